"""The book as its readers see it: every page of _toc.yml, rendered by headless Chromium.

Needs the built book (`make html`) and a system Chromium; run with `make browser` (or
`pytest tests -m browser`). Only localhost is reached: the built HTML is served on 127.0.0.1 and every
other request is aborted. A full-page screenshot of each page goes to artifacts/screenshots/, and a
summary (problems, blocked requests, seconds per page) to artifacts/browser_report.json.
The checks themselves are in tests/browser_support.py; the second half of this file shows that they
catch a broken page.
"""

from __future__ import annotations

import json
import re

import pytest

from browser_support import (
    BUILD,
    ROOT,
    SCREENSHOTS,
    Chromium,
    broken_copy,
    expected_colab_url,
    is_local,
    is_notebook,
    screenshot_name,
    serve,
    toc_docnames,
)

pytestmark = pytest.mark.browser

DOCNAMES = toc_docnames()
REPORTS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def book():
    if not (BUILD / "index.html").is_file():
        pytest.fail(f"No built book at {BUILD}: run `make html` first (`make browser` does).")
    return BUILD


@pytest.fixture(scope="module")
def site(book):
    with serve(book) as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    if SCREENSHOTS.is_dir():  # no stale screenshots of pages that left the book
        for old in SCREENSHOTS.glob("*.png"):
            old.unlink()
    with Chromium(screenshots=SCREENSHOTS) as browser:
        yield browser
    if REPORTS:
        out = ROOT / "artifacts" / "browser_report.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(REPORTS, indent=2) + "\n")


# ------------------------------------------------------------------------------- the real book
@pytest.mark.parametrize("docname", DOCNAMES)
def test_page_renders_in_a_real_browser(docname, site, chromium):
    colab = expected_colab_url(docname) if is_notebook(docname) else None
    report = chromium.check(f"{site}/{docname}.html", colab=colab, screenshot=screenshot_name(docname))
    REPORTS[docname] = {"seconds": round(report.seconds, 2), "problems": report.problems,
                        "blocked": report.blocked, "console_errors": report.console}
    assert report.problems == [], f"{docname}.html:\n  " + "\n  ".join(report.problems)
    assert (SCREENSHOTS / screenshot_name(docname)).stat().st_size > 0


def test_every_chapter_is_a_page_with_a_colab_link():
    chapters = [d for d in DOCNAMES if d.startswith("chapters/")]
    assert chapters, "no chapter in _toc.yml"
    assert all(is_notebook(d) for d in chapters), "every chapter is a notebook (and so gets a Colab link)"


def test_the_front_door_leads_to_the_first_page(site, chromium):
    page = chromium.context.new_page()
    page.route("**/*", lambda r: r.continue_() if is_local(r.request.url) else r.abort("blockedbyclient"))
    try:
        page.goto(f"{site}/", wait_until="load")
        page.wait_for_url(f"{site}/{DOCNAMES[0]}.html", timeout=10_000)
        assert page.locator("article h1").first.inner_text().strip()
    finally:
        page.close()


# ------------------------------------------------------------------- the checker catches breakage
def _victim() -> str | None:
    """The first chapter page that has a figure, a glued number, math and a Colab link."""
    for docname in DOCNAMES:
        path = BUILD / f"{docname}.html"
        if is_notebook(docname) and path.is_file():
            text = path.read_text(encoding="utf-8")
            if all(s in text for s in ('_images/', 'class="pasted-text"', 'class="math', "colab.research")):
                return docname
    return None


def _sub(pattern: str, repl: str):
    return lambda text: re.sub(pattern, repl, text, count=1)


def _into_notebook_section(snippet: str):
    # Inside the notebook's own section (class mathjax_ignore, as myst-nb renders it): MathJax looks
    # only at the nodes Sphinx marked as math there.
    return _sub(r'(<section class="tex2jax_ignore mathjax_ignore"[^>]*>)', r"\1" + snippet.replace("\\", "\\\\"))


# name: (edit of the page's HTML, substrings that must appear among the problems, ones that must not)
BREAKAGES = {
    "missing-image": (
        _sub(r'(<img [^>]*src="[^"]*_images/)[^"]+', r"\1no-such-figure.png"),
        ["image did not load: ../_images/no-such-figure.png", "JavaScript console error: Failed to load resource"],
        [],
    ),
    "empty-glue": (_sub(r'(<span class="pasted-text">)[^<]*(</span>)', r"\1\2"), ["empty glue placeholder"], []),
    "nan-glue": (_sub(r'(<span class="pasted-text">)[^<]*(</span>)', r"\1nan\2"), ["glued value is nan"], []),
    "raw-math": (_into_notebook_section("<p>Unparsed: $$x^2$$ and \\begin{align}a\\end{align}</p>"),
                 ["raw math ($$) left in the text: ...Unparsed: $$x^2$$", "raw math (\\begin) left"], []),
    # What the default configuration (MathJax from a CDN) gives offline: the request is blocked and
    # reported as such, the math stays raw, and the blocked request is not mistaken for a page error.
    "mathjax-from-a-cdn": (
        _sub(r'<script[^>]*src="[^"]*mathjax/tex-chtml\.js"[^>]*></script>',
             '<script defer src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>'),
        ["needs a resource outside the book (blocked; the book must render offline): https://cdn.jsdelivr.net",
         "math not typeset", "raw math (\\() left in the text"],
        ["JavaScript console error"],
    ),
    "external-image": (
        _into_notebook_section('<img src="https://example.invalid/figure.png" alt="remote">'),
        ["needs a resource outside the book", "image did not load: https://example.invalid/figure.png"],
        ["JavaScript console error"],
    ),
    "wrong-colab-link": (
        lambda text: text.replace("colab.research.google.com/github/", "colab.research.google.com/github/someone-else/", 1),
        ["Colab launch link ['https://colab.research.google.com/github/someone-else/"],
        [],
    ),
    "broken-links": (
        _into_notebook_section('<p><a href="no-such-page.html">gone</a> <a href="#no-such-anchor">here</a></p>'),
        ["broken internal link 'no-such-page.html'", "HTTP 404", "broken internal link '#no-such-anchor'"],
        [],
    ),
    "script-error": (
        _sub(r"(</body>)", r'<script>console.error("a broken widget"); notDefinedAnywhere();</script>\1'),
        ["JavaScript console error: a broken widget", "JavaScript console error: uncaught ReferenceError"],
        [],
    ),
}


@pytest.mark.parametrize("name", list(BREAKAGES))
def test_the_checker_catches_a_broken_page(name, book, chromium, tmp_path):
    docname = _victim()
    if docname is None:
        pytest.skip("no chapter page with a figure, a glued number, math and a Colab link to break")
    edit, expected, unexpected = BREAKAGES[name]
    copy = broken_copy(book, docname, tmp_path / "html", edit)
    with serve(copy) as url:
        report = chromium.check(f"{url}/{docname}.html", colab=expected_colab_url(docname), screenshot=None)
    found = "\n".join(report.problems)
    for text in expected:
        assert text in found, f"{name}: expected a problem containing {text!r}; the checker said:\n{found}"
    for text in unexpected:
        assert text not in found, f"{name}: did not expect {text!r}; the checker said:\n{found}"


def test_the_unbroken_copy_passes(book, chromium, tmp_path):
    """The control for the test above: the same copy with a harmless edit has no problem."""
    docname = _victim()
    if docname is None:
        pytest.skip("no chapter page to copy")
    copy = broken_copy(book, docname, tmp_path / "html", lambda t: t.replace("</body>", "<!-- ok --></body>", 1))
    with serve(copy) as url:
        report = chromium.check(f"{url}/{docname}.html", colab=expected_colab_url(docname), screenshot=None)
    assert report.problems == []
