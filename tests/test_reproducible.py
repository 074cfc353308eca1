"""Reproducible, checked: the cheapest chapter (chapters/01_pca.ipynb) executed twice, each time from
scratch in a fresh kernel (nbclient, as tools/execute.py does), gives identical outputs apart from timings.

Both runs execute copies of the notebook laid out like the book (``_config.yml`` and ``_toc.yml`` at the root,
``results/`` beside ``chapters/``) with ``AEVAE_RESULTS=check``, so nothing is written and the chapter's
``record_results`` also checks its numbers against the committed ``results/01_pca.json``.

What counts as a timing (and is masked; nothing else is):

1. a glued value whose glue name contains ``seconds``, ``minutes``, ``wall`` or ``time`` (the book's naming
   of timings: ``glue("pca_seconds", ...)``);
2. in text output (streams, ``text/plain``, ``text/html``, ``text/markdown``), a number directly followed by
   a unit of time — ``s``, ``ms``, ``sec``, ``seconds``, ``min``, ``minutes``, ``h`` — e.g. the ``13.4`` of
   "784 components in 13.4 s": the number is replaced by ``<time>``, the rest of the line is compared.

Everything else is compared exactly: every stream, every table, every glued number, every figure's PNG bytes,
and the execution counts.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from aevae.data import DataError, find_data_dir

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "01_pca"
TIMING_GLUE = re.compile(r"seconds|minutes|wall|time", re.I)
TIMING_TEXT = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?(?=\s?(?:s|ms|sec|seconds|min|minutes|h)\b)")
TEXT_KEYS = ("text/plain", "text/html", "text/markdown")


def mask_timings(nb) -> tuple[list, list[str]]:
    """The notebook's code-cell outputs with the timings (as defined above) masked, and what was masked."""
    cells, masked = [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in copy.deepcopy(cell.outputs):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name and TIMING_GLUE.search(name):
                masked.append(f"cell {i}: glue {name}")
                out["data"] = {k: "<time>" for k in out["data"]}
            elif out.get("output_type") == "stream":
                out["text"], n = TIMING_TEXT.subn("<time>", out["text"])
                masked += [f"cell {i}: {line}" for line in out["text"].splitlines() if "<time>" in line][:n]
            else:
                for key in TEXT_KEYS:
                    if key in out.get("data", {}):
                        text = out["data"][key]
                        text = "".join(text) if isinstance(text, list) else text
                        out["data"][key], n = TIMING_TEXT.subn("<time>", text)
                        if n:
                            masked.append(f"cell {i}: {key} with {n} timing(s)")
            outputs.append(out)
        cells.append({"execution_count": cell.execution_count, "outputs": outputs})
    return cells, masked


def test_the_masking_is_narrow():
    text = "PCA of the training set: 784 components in 13.4 s\ntrained 3 models in 12 seconds, 2.5 min\nk = 16, 0.0249 MSE"
    masked = TIMING_TEXT.sub("<time>", text)
    assert masked == ("PCA of the training set: 784 components in <time> s\ntrained 3 models in <time> seconds, "
                      "<time> min\nk = 16, 0.0249 MSE")
    assert TIMING_TEXT.sub("<time>", "10 samples, 5 steps, 3 models, 0.5 sigma, 2 ms") == \
        "10 samples, 5 steps, 3 models, 0.5 sigma, <time> ms"


def _layout(base: Path) -> Path:
    """A copy of the book's skeleton with chapter 1: returns the notebook's path."""
    (base / "chapters").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, base / name)
    shutil.copytree(ROOT / "results", base / "results")
    shutil.copy(ROOT / "chapters" / f"{CHAPTER}.ipynb", base / "chapters" / f"{CHAPTER}.ipynb")
    return base / "chapters" / f"{CHAPTER}.ipynb"


def _execute(path: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # start from no outputs at all
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def _data_available() -> bool:
    try:
        return find_data_dir() is not None
    except DataError:
        return False


@pytest.mark.skipif(not _data_available(), reason="Fashion-MNIST is not installed (python -m aevae.data)")
def test_chapter_1_executes_to_identical_outputs_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("AEVAE_RESULTS", "check")  # write nothing; compare with results/01_pca.json instead
    monkeypatch.setenv("AEVAE_PROGRESS", "0")
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    runs = [_execute(_layout(tmp_path / f"run{i}")) for i in (1, 2)]
    for base in ("run1", "run2"):  # AEVAE_RESULTS=check: the copies' results are untouched
        for path in (tmp_path / base / "results").iterdir():
            assert path.read_bytes() == (ROOT / "results" / path.name).read_bytes()
    (a, masked_a), (b, masked_b) = mask_timings(runs[0]), mask_timings(runs[1])
    assert masked_a and len(masked_a) == len(masked_b), (masked_a, masked_b)
    assert any("glue pca_seconds" in m for m in masked_a)
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b)):
        assert x == y, f"code cell {i} differs between two runs:\n{x}\n---\n{y}"
    counts = [c["execution_count"] for c in a]
    assert counts == list(range(1, len(a) + 1))
    assert any(o.get("data", {}).get("image/png") for c in a for o in c["outputs"]), "figures are compared too"
