"""The book as a whole: configuration, table of contents, notebooks, pins."""

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

import aevae.book
from notebook_rules import problems

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    return files


def test_repository_url_is_defined_once_and_agrees():
    url = CONFIG["repository"]["url"]
    assert url.startswith("https://github.com/")
    assert aevae.book.REPOSITORY_URL == url
    assert CONFIG["repository"]["branch"] == "main"
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


def test_book_renders_stored_outputs_only():
    assert CONFIG["execute"]["execute_notebooks"] == "off"
    exts = CONFIG["parse"]["myst_enable_extensions"]
    assert "dollarmath" in exts and "amsmath" in exts
    assert CONFIG["bibtex_bibfiles"] == ["references.bib"]


def test_toc_and_chapters_agree():
    files = toc_files()
    for f in files:
        assert any((ROOT / f"{f}{ext}").is_file() for ext in (".md", ".ipynb")), f"_toc.yml names missing {f}"
    listed = {f for f in files if f.startswith("chapters/")}
    on_disk = {f"chapters/{p.stem}" for p in NOTEBOOKS}
    assert listed == on_disk, f"chapters not in _toc.yml: {on_disk - listed}; in _toc.yml only: {listed - on_disk}"
    for p in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+", p.stem), f"{p.name} is not named NN_slug.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_conventions(path):
    nb = json.loads(path.read_text())
    assert problems(nb, CONFIG["repository"]["url"]) == []


def _nb(counts, url="https://github.com/x/y"):
    setup = {"cell_type": "code", "execution_count": counts[0], "metadata": {"tags": ["remove-cell"]}, "outputs": [],
             "source": f'import sys\nif "google.colab" in sys.modules:\n    %pip install "aevae @ git+{url}"'}
    body = [{"cell_type": "code", "execution_count": n, "metadata": {}, "outputs": [], "source": "device = setup(0)"}
            for n in counts[1:-1]]
    claims = {"cell_type": "code", "execution_count": counts[-1], "metadata": {}, "outputs": [], "source": "assert x"}
    return {"cells": [setup, *body, claims], "metadata": {}}


def test_the_checker_catches_unrun_and_out_of_order_cells():
    assert problems(_nb([1, 2, 3]), "https://github.com/x/y") == []
    assert any("never executed" in p for p in problems(_nb([1, None, 3]), "https://github.com/x/y"))
    assert any("top-to-bottom" in p for p in problems(_nb([1, 3, 2]), "https://github.com/x/y"))
    assert any("top-to-bottom" in p for p in problems(_nb([2, 3, 4]), "https://github.com/x/y"))
    assert any("configured repository" in p for p in problems(_nb([1, 2, 3]), "https://github.com/other/repo"))


def test_requirements_pin_exact_versions_and_torch():
    lines = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9_.+\-]+", line), f"not an exact pin: {line}"
    assert "torch==2.13.0" in lines
    jb = [l for l in lines if l.lower().startswith("jupyter-book==")]
    assert jb and jb[0].split("==")[1].startswith("1."), "jupyter-book must be 1.x"


def test_package_is_not_named_code():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["tool"]["setuptools"]["packages"]["find"]["where"] == ["code"]
    packages = [p.parent.name for p in (ROOT / "code").glob("*/__init__.py")]
    assert packages == ["aevae"]
    assert Path(aevae.book.__file__).resolve().is_relative_to(ROOT / "code" / "aevae")


def test_every_citation_is_in_the_bibliography():
    bib = (ROOT / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    sources = [ROOT / "intro.md", *NOTEBOOKS, *ROOT.glob("*.md")]
    cited = set()
    for path in sources:
        for group in re.findall(r"\{cite[:a-z]*\}`([^`]+)`", path.read_text()):
            cited |= {k.strip() for k in group.split(",")}
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"
    for key in ("baldi1989neural", "higgins2016early", "chung2015recurrent", "kingma2013auto",
                "rezende2014stochastic", "kingma2017variational"):
        assert key in keys
