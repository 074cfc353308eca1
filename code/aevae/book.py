"""Helpers every chapter notebook uses: seeding, device, figure style, glue, progress bars."""

from __future__ import annotations

import os
import random
import sys
from typing import Iterable, TypeVar

import numpy as np
import torch

__all__ = ["setup", "seed_everything", "pick_device", "glue", "progress", "in_colab", "show_source", "record_results", "plain", "REPOSITORY_URL", "BOOK_THREADS",
           "book_threads", "Claims"]

T = TypeVar("T")

# Kept equal to `repository.url` in _config.yml by tests/test_book.py.
REPOSITORY_URL = "https://github.com/aevae-book/autoencoder-or-vae"


def in_colab() -> bool:
    return "google.colab" in sys.modules


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch.Generator seeded with ``seed`` for explicit use."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA if available, else Apple's MPS, else the CPU. ``prefer`` (or $AEVAE_DEVICE) overrides."""
    prefer = prefer or os.environ.get("AEVAE_DEVICE")
    if prefer:
        if prefer not in {"cpu", "cuda", "mps"}:
            raise ValueError(f"Unknown device {prefer!r}: use 'cpu', 'cuda' or 'mps'.")
        if prefer == "cuda" and not torch.cuda.is_available():
            raise ValueError("Device 'cuda' was asked for but CUDA is not available; use 'cpu'.")
        if prefer == "mps" and not torch.backends.mps.is_available():
            raise ValueError("Device 'mps' was asked for but MPS is not available; use 'cpu'.")
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def set_style() -> None:
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="deep")
    mpl.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "figure.figsize": (6.4, 4.0),
                         "image.cmap": "gray"})
    try:  # PNG only in stored outputs (no SVG)
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except ImportError:  # pragma: no cover
        pass


# The stored outputs were computed with this many CPU threads. PyTorch's CPU kernels split reductions
# by thread, so another count changes the last bits of every sum, and training amplifies them: the
# same seed then gives slightly different trained numbers (within the claims cells' tolerances).
BOOK_THREADS = 2


def book_threads() -> int:
    """CPU threads for the chapters: $AEVAE_THREADS if set, else :data:`BOOK_THREADS`."""
    raw = os.environ.get("AEVAE_THREADS", str(BOOK_THREADS))
    try:
        threads = int(raw)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"$AEVAE_THREADS must be a positive integer, got {raw!r}; unset it to use "
                         f"{BOOK_THREADS}, the count the stored outputs were computed with.")
    return threads


def setup(seed: int = 0, device: str | None = None, style: bool = True) -> torch.device:
    """The one call at the top of every chapter: seed everything, fix the number of CPU threads (so a
    re-run reproduces the stored outputs bit for bit on the same machine), pick the device, set the
    style."""
    seed_everything(seed)
    torch.set_num_threads(book_threads())
    if style:
        set_style()
    return pick_device(device)


def glue(name: str, value, display: bool = False) -> None:
    """myst-nb's ``glue`` where it is installed (the book build); a no-op elsewhere (e.g. Colab).

    Numbers are stored as plain Python ``int``/``float`` (a NumPy or one-element torch scalar would render
    as ``np.float64(0.9)`` in the book). Returns nothing, so that a cell ending in a ``glue`` call shows no
    stray value in the book.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    _glue(name, plain(value), display=display)


def plain(value):
    """A NumPy scalar, 0-d array or one-element tensor as the Python number it holds; anything else as is."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    return value


def progress(iterable: Iterable[T], **kwargs) -> Iterable[T]:
    """A tqdm.auto progress bar for interactive runs.

    Disabled when $AEVAE_PROGRESS is ``0`` (the book's executor and nbval set it), so that no bar
    ends up in stored outputs.
    """
    if os.environ.get("AEVAE_PROGRESS", "1") == "0":
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, leave=False, **kwargs)


def show_source(obj) -> None:
    """Display the source of a module function or class as a highlighted code block (so a chapter can
    show the idea it relies on without pasting it)."""
    import inspect

    from IPython.display import Markdown, display

    display(Markdown(f"```python\n{inspect.getsource(obj).rstrip()}\n```"))


def _book_root() -> "os.PathLike | None":
    from pathlib import Path

    here = Path.cwd().resolve()
    for path in (here, *here.parents):
        if (path / "_config.yml").is_file() and (path / "_toc.yml").is_file():
            return path
    return None


def _round(value, digits: int):
    import math

    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) or (isinstance(value, torch.Tensor) and value.numel() == 1):
        v = float(value)
        if not math.isfinite(v) or v == 0:
            return v
        return round(v, max(0, digits - 1 - int(math.floor(math.log10(abs(v))))))
    if isinstance(value, dict):
        return {str(k): _round(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round(v, digits) for v in value]
    raise TypeError(f"record_results takes numbers, strings, lists and dicts, not {type(value).__name__}.")


def record_results(chapter: str, results: dict, digits: int = 4, rtol: float = 0.2, atol: float = 0.05) -> dict:
    """Write a chapter's headline numbers to ``results/<chapter>.json`` at the book's root, rounded to
    ``digits`` significant digits, for the decision guide to read. Returns the rounded dict.

    Outside the book's repository (e.g. on Colab) nothing is written. With ``$AEVAE_RESULTS=check``
    (set by ``make nbval``) nothing is written either: the committed file is compared with the fresh
    numbers instead, and a :class:`StaleResultsError` names every number that moved by more than
    ``rtol`` (relative) and ``atol`` (absolute; integers such as unit counts may also move by 2) — the
    guide would otherwise quote stale figures. The tolerances are wide on purpose: a chapter re-run on
    another CPU trains to slightly different numbers (each chapter's claims cell checks the substance
    with its own tolerances), while a file left over from another version of the chapter has other keys
    or other values. Timings are refused: results files hold results only.
    """
    import json

    if not isinstance(chapter, str) or not chapter or "/" in chapter:
        raise ValueError(f"chapter must be a file-name stem such as '04_vae', got {chapter!r}.")
    timings = list(_timing_keys(results))
    if timings:
        raise ValueError(f"record_results takes results only, not timings {timings}: they depend on the "
                         "machine (tools/execute.py records each notebook's time in results/execution.json).")
    rounded = _round(dict(results), digits)
    root = _book_root()
    if root is None:
        return rounded
    path = root / "results" / f"{chapter}.json"
    if os.environ.get("AEVAE_RESULTS") == "check":
        if not path.is_file():
            raise StaleResultsError(f"{path} is missing: run `make book` to execute the chapters and record it.")
        stale = _compare(json.loads(path.read_text()), rounded, rtol, atol)
        if stale:
            raise StaleResultsError(
                f"{path} is not what {chapter} produces now; run `make book` to re-record it:\n  "
                + "\n  ".join(stale)
            )
        return rounded
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(rounded, indent=2, sort_keys=True) + "\n")
    return rounded


TIMING_WORDS = ("seconds", "wall", "elapsed", "_time", "timing")


def _timing_keys(obj, where: str = ""):
    """Keys anywhere in ``obj`` that name a timing."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if any(word in str(k).lower() for word in TIMING_WORDS):
                yield f"{where}{k}"
            yield from _timing_keys(v, f"{where}{k}.")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _timing_keys(v, f"{where}{i}.")


class StaleResultsError(AssertionError):
    """A committed results file differs from what its chapter computes."""


def _compare(old, new, rtol: float, atol: float, where: str = "") -> list[str]:
    import math

    if isinstance(new, dict) and isinstance(old, dict):
        out = [f"{where}{k}: missing from the file" for k in new if k not in old]
        out += [f"{where}{k}: in the file but no longer produced" for k in old if k not in new]
        for k in new:
            if k in old:
                out += _compare(old[k], new[k], rtol, atol, f"{where}{k}.")
        return out
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        return [m for i, (a, b) in enumerate(zip(old, new)) for m in _compare(a, b, rtol, atol, f"{where}{i}.")]
    if isinstance(new, (int, float)) and isinstance(old, (int, float)) and not isinstance(new, bool):
        if math.isclose(old, new, rel_tol=rtol, abs_tol=atol) or (math.isnan(old) and math.isnan(new)):
            return []
        if isinstance(old, int) and isinstance(new, int) and abs(old - new) <= 2:  # counts of units etc.
            return []
    elif old == new:
        return []
    return [f"{where.rstrip('.')}: file has {old!r}, chapter gives {new!r}"]


class Claims:
    """A chapter's quantitative statements, each with the measured value, its bound and whether it holds.

    The claims cell of a chapter collects every statement with :meth:`check` and ends with
    :meth:`assert_all`: that renders one compact table (statement, measured, bound, holds) and raises an
    :class:`AssertionError` naming *every* failing statement, so a chapter whose text a re-run contradicts
    still fails to execute (and nbval fails) — while the page shows a table instead of a wall of asserts::

        claims = Claims()
        claims.check("two components keep 44-50% of the variance", cum[1], lo=0.44, hi=0.50)
        claims.check("test MSE falls with k", mse_list, holds=all(a > b for a, b in zip(mse_list, mse_list[1:])),
                     bound="decreasing")
        claims.assert_all()

    Bounds are inclusive: a claim with ``lo`` and/or ``hi`` holds when ``lo <= value <= hi``. A claim that
    is not an interval (an ordering, a comparison of two measurements) passes ``holds=`` explicitly, with
    ``bound=`` saying in words what was required.
    """

    COLUMNS = ("statement", "measured", "bound", "holds")

    def __init__(self, digits: int = 4):
        self.digits = digits
        self.rows: list[dict] = []

    def check(self, statement: str, value, lo=None, hi=None, holds=None, bound: str | None = None) -> bool:
        """Record one statement; return whether it holds."""
        import math

        if not isinstance(statement, str) or not statement.strip():
            raise ValueError("a claim needs a statement (a non-empty string).")
        value = plain(value)
        if holds is not None:
            if lo is not None or hi is not None:
                raise ValueError(f"claim {statement!r}: give either lo/hi or holds, not both.")
            holds = bool(plain(holds))
        elif lo is None and hi is None:
            raise ValueError(f"claim {statement!r}: give a bound (lo and/or hi) or holds=.")
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"claim {statement!r}: lo/hi need a number, got {type(value).__name__}.")
            holds = (not math.isnan(value) and (lo is None or value >= lo) and (hi is None or value <= hi))
        if bound is None:
            bound = self._bound(lo, hi)
        self.rows.append({"statement": statement, "measured": self._fmt(value), "bound": bound,
                          "holds": holds})
        return holds

    def _fmt(self, value) -> str:
        value = plain(value)
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return f"{value:.{self.digits}g}"
        if isinstance(value, (list, tuple)):
            return ", ".join(self._fmt(v) for v in value)
        if isinstance(value, dict):
            return ", ".join(f"{k}: {self._fmt(v)}" for k, v in value.items())
        if isinstance(value, (np.ndarray, torch.Tensor)):
            return self._fmt([plain(v) for v in value.reshape(-1)])
        return str(value)

    def _bound(self, lo, hi) -> str:
        if lo is not None and hi is not None:
            return f"{self._fmt(lo)} to {self._fmt(hi)}"
        if lo is not None:
            return f"≥ {self._fmt(lo)}"
        if hi is not None:
            return f"≤ {self._fmt(hi)}"
        return ""

    @property
    def failed(self) -> list[str]:
        return [r["statement"] for r in self.rows if not r["holds"]]

    def table(self):
        """The claims as a pandas DataFrame (one row per statement, numbered from 1)."""
        import pandas as pd

        df = pd.DataFrame(self.rows, columns=list(self.COLUMNS))
        df["holds"] = df["holds"].map({True: "✓", False: "✗ FAILS"})
        df.index = pd.RangeIndex(1, len(df) + 1)
        return df

    def _repr_html_(self) -> str:
        import pandas as pd

        with pd.option_context("display.max_colwidth", None):
            return self.table().to_html(classes="dataframe claims-table", justify="left", escape=True)

    def __repr__(self) -> str:
        import pandas as pd

        df = self.table()
        width = max([len("statement"), *(len(t) for t in df["statement"])])
        with pd.option_context("display.max_colwidth", None, "display.width", 250):
            return df.to_string(formatters={"statement": lambda t: t.ljust(width)}, justify="left")

    def assert_all(self) -> "Claims":
        """Raise an AssertionError naming every failing statement (after showing the table, in a notebook);
        return ``self``, which renders as the table, when every claim holds."""
        if not self.rows:
            raise AssertionError("no claims were checked.")
        failed = self.failed
        if failed:
            try:
                from IPython import get_ipython
                from IPython.display import display

                if get_ipython() is not None:
                    display(self)
            except ImportError:  # pragma: no cover
                pass
            raise AssertionError(f"{len(failed)} of {len(self.rows)} claims fail:\n  " + "\n  ".join(failed))
        return self
