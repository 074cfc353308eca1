"""Short cells, the idea visible (issue 16): in the rendered book every visible code cell of a chapter
is at most 25 lines long and their median at most 12.

Which cells count is decided in tools/cell_stats.py (run it for the table): a code cell tagged
``remove-cell``, ``remove-input``, ``hide-input`` or ``hide-cell`` shows no code on the page (removed, or
collapsed behind a toggle) and does not count; every other code cell does, ``remove-output`` and the
nbval tags included. Length = lines of source, blank lines inside the cell included.

Chapters are converted one at a time, so the rule is enforced for the chapters in CONVERTED only. For
every other chapter of _toc.yml the test asserts the opposite — that it still breaks the rule — so the
day someone shortens a chapter's cells (or adds a new, already short chapter) this test fails until the
chapter is added to CONVERTED, and from then on the rule holds for it for good. When every chapter is
in CONVERTED the second test has nothing left to check and can go.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import cell_stats  # noqa: E402

# Chapters whose visible cells follow the rule (08 and 09 were short from the start; 05_knob was written
# short, the new chapter of issue 14).
CONVERTED = {"01_pca", "02_linear_ae", "03_nonlinear_ae", "05_knob", "06_beta_vae", "07_sequential_prior",
             "08_decision_guide", "09_reproducing"}

NOTEBOOKS = cell_stats.toc_notebooks(ROOT)


def test_the_toc_has_chapters_and_converted_names_real_ones():
    stems = {p.stem for p in NOTEBOOKS}
    assert len(stems) >= 5
    assert CONVERTED <= stems, f"CONVERTED names chapters that are not in _toc.yml: {CONVERTED - stems}"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem in CONVERTED], ids=lambda p: p.stem)
def test_converted_chapters_show_short_cells(path):
    import json

    lengths = cell_stats.visible_code_cells(json.loads(path.read_text()))
    s = cell_stats.stats(path)
    long = [(i, n) for i, n in enumerate(lengths) if n > cell_stats.MAX_LINES]
    assert not long, (f"{path.stem}: visible code cells longer than {cell_stats.MAX_LINES} lines "
                      f"(index among visible cells, lines): {long}; move plumbing to the module or tag "
                      "the cell hide-input")
    assert s.median <= cell_stats.MAX_MEDIAN, f"{path.stem}: median visible cell is {s.median} lines"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem not in CONVERTED], ids=lambda p: p.stem)
def test_unconverted_chapters_are_still_long(path):
    s = cell_stats.stats(path)
    assert not s.compliant, (f"{path.stem} now follows the cell rule (longest {s.longest}, median {s.median}): "
                             "add it to CONVERTED in tests/test_cells.py so that the rule holds for it")


def test_the_counting_rules():
    def cell(src, *tags):
        return {"cell_type": "code", "source": src, "metadata": {"tags": list(tags)}}

    nb = {"cells": [cell("a\nb\n\nc\n"), cell("x\ny", "hide-input"), cell("x", "remove-input"),
                    cell("x", "remove-cell"), cell("x", "hide-cell"), cell(["a\n", "b"], "remove-output"),
                    {"cell_type": "markdown", "source": "text\n" * 40, "metadata": {}}]}
    assert cell_stats.visible_code_cells(nb) == [4, 2]
    assert cell_stats.cell_lines("\n\nfoo\n\n") == 1
