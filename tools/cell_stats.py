"""How much code each chapter shows in the rendered book (issue 16: short cells, the idea visible).

    .venv/bin/python tools/cell_stats.py            # every chapter of _toc.yml
    .venv/bin/python tools/cell_stats.py chapters/01_pca.ipynb ...

A code cell is *visible* unless it carries one of the tags in HIDDEN_TAGS: ``remove-cell`` and
``remove-input`` take its code off the page, ``hide-input`` and ``hide-cell`` collapse it behind a
toggle (the reader asks for it). ``remove-output``, ``hide-output`` and the nbval tags leave the code
in view and count. A visible cell's length is the number of lines of its source, blank lines inside
included, leading and trailing blank lines not. tests/test_cells.py enforces the book's rule on
these numbers: every visible code cell at most MAX_LINES lines, their median at most MAX_MEDIAN.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HIDDEN_TAGS = frozenset({"remove-cell", "remove-input", "hide-input", "hide-cell"})
MAX_LINES = 25
MAX_MEDIAN = 12


def cell_lines(source) -> int:
    text = "".join(source) if isinstance(source, list) else source
    return len(text.strip("\n").splitlines())


def visible_code_cells(nb: dict) -> list[int]:
    """Line counts of the code cells the rendered book shows, in order."""
    out = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if HIDDEN_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        out.append(cell_lines(cell.get("source", "")))
    return out


@dataclass
class Stats:
    chapter: str
    cells: int
    lines: int
    longest: int
    median: float
    over: int  # cells longer than MAX_LINES

    @property
    def compliant(self) -> bool:
        return self.longest <= MAX_LINES and self.median <= MAX_MEDIAN


def stats(path: Path) -> Stats:
    lengths = visible_code_cells(json.loads(Path(path).read_text()))
    return Stats(Path(path).stem, len(lengths), sum(lengths), max(lengths, default=0),
                 statistics.median(lengths) if lengths else 0.0, sum(n > MAX_LINES for n in lengths))


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The chapter notebooks listed in _toc.yml, in order."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").is_file()]


def table(paths) -> str:
    rows = [stats(p) for p in paths]
    head = f"{'chapter':<22}{'cells':>6}{'lines':>7}{'longest':>9}{'median':>8}{'>25':>5}  rule"
    lines = [head, "-" * len(head)]
    for s in rows:
        lines.append(f"{s.chapter:<22}{s.cells:>6}{s.lines:>7}{s.longest:>9}{s.median:>8.1f}{s.over:>5}  "
                     + ("ok" if s.compliant else "no"))
    return "\n".join(lines)


if __name__ == "__main__":
    print(table([Path(a) for a in sys.argv[1:]] or toc_notebooks()))
