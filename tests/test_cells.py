"""Short cells, the idea visible (issue 16): in the rendered book every visible code cell of a chapter
is at most 25 lines long and their median at most 12.

Which cells count is decided in tools/cell_stats.py (run it for the table): a code cell tagged
``remove-cell``, ``remove-input``, ``hide-input`` or ``hide-cell`` shows no code on the page (removed, or
collapsed behind a toggle) and does not count; every other code cell does, ``remove-output`` and the
nbval tags included. Length = lines of source, blank lines inside the cell included.

The rule holds for every chapter of _toc.yml (all were converted for issue 16); a new chapter must follow it
from the start.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import cell_stats  # noqa: E402

NOTEBOOKS = cell_stats.toc_notebooks(ROOT)


def test_the_toc_has_the_chapters():
    assert len({p.stem for p in NOTEBOOKS}) >= 9


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapters_show_short_cells(path):
    import json

    lengths = cell_stats.visible_code_cells(json.loads(path.read_text()))
    s = cell_stats.stats(path)
    long = [(i, n) for i, n in enumerate(lengths) if n > cell_stats.MAX_LINES]
    assert not long, (f"{path.stem}: visible code cells longer than {cell_stats.MAX_LINES} lines "
                      f"(index among visible cells, lines): {long}; move plumbing to the module or tag "
                      "the cell hide-input")
    assert s.median <= cell_stats.MAX_MEDIAN, f"{path.stem}: median visible cell is {s.median} lines"


def test_the_counting_rules():
    def cell(src, *tags):
        return {"cell_type": "code", "source": src, "metadata": {"tags": list(tags)}}

    nb = {"cells": [cell("a\nb\n\nc\n"), cell("x\ny", "hide-input"), cell("x", "remove-input"),
                    cell("x", "remove-cell"), cell("x", "hide-cell"), cell(["a\n", "b"], "remove-output"),
                    {"cell_type": "markdown", "source": "text\n" * 40, "metadata": {}}]}
    assert cell_stats.visible_code_cells(nb) == [4, 2]
    assert cell_stats.cell_lines("\n\nfoo\n\n") == 1
