"""The text readers see: no Python repr of a NumPy scalar, an array or a tensor in any built page.

A number glued as ``np.float64(0.238)`` renders as exactly that, ``np.float64(0.238)``, in the prose; a
printed ``tensor(...)`` or ``array(...)`` in an output is the same slip. This reads the built HTML
(`make html`; ``$AEVAE_BUILD_HTML`` points at another build) and checks the text of every page of
``_toc.yml``: its prose, its glued values and its cell outputs. The code of the cells themselves (inputs, and
source shown with ``show_source``) may call ``torch.tensor(...)`` and is left out.

Marked ``browser``: those tests run after the HTML build (`make browser`).
"""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

from browser_support import BUILD, toc_docnames

pytestmark = pytest.mark.browser

# A repr, not a word: "np.float64(", "numpy.int64(", "tensor(", "array(" (but not "ndarray(" or "bytearray(").
REPR = re.compile(r"\b(?:np|numpy)\.(?:float|int|uint|bool_?)\d*\(|(?<![\w.])(?:tensor|array)\(")

# Blocks of source code: cell inputs and highlighted code (a Python block shown by show_source, the
# README's shell commands). Cell *outputs* are kept: a printed tensor repr there is what we look for.
CODE = ["div.cell_input", "div.highlight-python", "div.highlight-python3", "div.highlight-ipython3",
        "div.highlight-bash", "div.highlight-default", "script", "style", "nav", "header", "footer"]


def page_text(html: str) -> str:
    soup = BeautifulSoup(html, "html.parser")
    article = soup.find("article") or soup.body or soup
    for selector in CODE:
        for node in article.select(selector):
            node.decompose()
    return article.get_text(" ")


def reprs_in(text: str, width: int = 60) -> list[str]:
    """Each repr found, with some context."""
    return [" ".join(text[max(0, m.start() - width): m.end() + width].split()) for m in REPR.finditer(text)]


def test_the_pattern_finds_reprs_and_only_reprs():
    found = reprs_in("AUROC np.float64(0.238); n = np.int64(7); tensor([1., 2.]); array([0.5]); numpy.float32(1)")
    assert len(found) == 5
    assert not reprs_in("an ndarray(...) call, a bytearray(b'') and torch.tensor([0, 1]) in prose, "
                        "the tensor (a matrix), an array of images, float64 precision")


def test_code_blocks_are_left_out_and_outputs_kept():
    html = """<article><p>AUROC 0.24</p>
      <div class="cell_input"><pre>idx = torch.tensor([0, 1])</pre></div>
      <div class="cell_output"><pre>tensor([0.5000])</pre></div>
      <div class="highlight-python"><pre>x = np.array([1])</pre></div></article>"""
    text = page_text(html)
    assert "AUROC 0.24" in text and "torch.tensor([0, 1])" not in text and "np.array" not in text
    assert [s.split()[-1] for s in reprs_in(text)] == ["tensor([0.5000])"]


@pytest.fixture(scope="module")
def pages():
    if not (BUILD / "index.html").is_file():
        pytest.skip(f"No built book at {BUILD}: run `make html` first (`make browser` builds it and runs this).")
    return {name: BUILD / f"{name}.html" for name in toc_docnames()}


def test_no_python_repr_in_any_page(pages):
    problems = {}
    for name, path in pages.items():
        assert path.is_file(), f"{name} is in _toc.yml but {path} was not built"
        found = reprs_in(page_text(path.read_text(encoding="utf-8")))
        if found:
            problems[name] = found
    assert not problems, ("Python reprs in the rendered text (glue plain numbers: float(x), int(x); print "
                          "values, not tensors):\n" + "\n".join(f"  {name}: …{s}…" for name, found in
                                                              problems.items() for s in found))
