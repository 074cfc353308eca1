"""Each chapter's text source (chapters/NN_slug.md, jupytext MyST) and its executed notebook hold the
same cells; results files hold results, not timings."""

import json
from pathlib import Path

import jupytext
import nbformat
import pytest

from aevae.book import _timing_keys

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))
SOURCES = sorted((ROOT / "chapters").glob("*.md"))


def cells(nb) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ()))) for c in nb.cells]


def test_every_notebook_has_a_text_source_and_back():
    assert [p.stem for p in NOTEBOOKS] == [p.stem for p in SOURCES], \
        "every chapters/NN_slug.ipynb needs chapters/NN_slug.md and vice versa (jupytext --set-formats ipynb,md:myst)"


def test_pairing_is_configured_in_the_repository():
    text = (ROOT / "jupytext.toml").read_text()
    assert 'formats = "ipynb,md:myst"' in text


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_notebook_inputs_match_the_text_source(source):
    text = jupytext.read(source)
    nb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    a, b = cells(text), cells(nb)
    for i, (x, y) in enumerate(zip(a, b)):
        assert x == y, (f"cell {i} of {source.name} differs from its notebook: edit the .md, then run "
                        f"`make sync` (jupytext --sync) and execute the chapter.\n  source:   {x[1][:200]!r}\n"
                        f"  notebook: {y[1][:200]!r}")
    assert len(a) == len(b), f"{source.name} has {len(a)} cells, its notebook {len(b)}: run `make sync`"


@pytest.mark.parametrize("path", sorted((ROOT / "results").glob("[0-9][0-9]_*.json")), ids=lambda p: p.name)
def test_results_files_hold_no_timings(path):
    found = list(_timing_keys(json.loads(path.read_text())))
    assert not found, f"{path.name} records timings {found}: they belong in results/execution.json"
