"""Sphinx fixes for the book's HTML, found by the real-browser test (tests/test_browser.py).

Sphinx 7.4 lists an inline script added by an extension after the HTML builder started twice: once
with ``filename=None`` (``app.add_js_file``) and once with ``filename=''`` (the builder's
``init_js_files``), which compare unequal. With sphinx-thebe's ``const THEBE_JS_URL = ...`` that is a
JavaScript error on every page ("Identifier 'THEBE_JS_URL' has already been declared"). This extension
drops the second copy of any identical script from each page.
"""

from __future__ import annotations


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        key = (getattr(js, "filename", js) or "", getattr(js, "priority", None),
               tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique  # the builder restores its own list after each page


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
