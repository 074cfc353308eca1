"""The real-browser check of the built book, used by tests/test_browser.py.

* :func:`toc_docnames` lists the pages of ``_toc.yml`` (never a hard-coded list);
* :func:`serve` serves a built ``_build/html`` on 127.0.0.1 (stdlib ``http.server``, ephemeral port, one
  thread, stopped on exit);
* :class:`Chromium` drives headless Chromium (the system's ``chromium``, through Playwright) with every
  request that does not go to this machine aborted, and :meth:`Chromium.check` returns the list of
  everything wrong with one page (empty when the page is fine).

What a page must satisfy (one problem string per failure):

1. it loads (HTTP 200, an ``<article>`` with a heading);
2. no JavaScript error: no uncaught exception and no ``console.error`` (a local file that fails to load
   logs one too). The console error Chromium logs for a request *we* aborted is not counted here, but
   the request itself is a problem of its own: the book must render from its own files;
3. every ``<img>`` has loaded (complete, non-zero natural width and height);
4. math is typeset: every Sphinx math node holds a MathJax container, no MathJax error, and no raw
   ``$$``, ``\\begin``, ``\\(`` or ``\\[`` left in the text outside code;
5. a chapter (a page whose source is a notebook) has a Colab launch link to that notebook on the
   repository configured in ``_config.yml``;
6. internal links resolve: the target file is served and its ``#fragment``, if any, is an id in it;
7. glued values are there: no empty ``{glue}`` placeholder, no glued ``nan``/``inf``.

A full-page screenshot of each page is saved (``artifacts/screenshots/`` by default).
"""

from __future__ import annotations

import contextlib
import functools
import html
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import yaml

ROOT = Path(__file__).resolve().parents[1]
# The built book: `make html` writes _build/html; $AEVAE_BUILD_HTML points the test at another build.
BUILD = Path(os.environ.get("AEVAE_BUILD_HTML") or ROOT / "_build" / "html").resolve()
SCREENSHOTS = ROOT / "artifacts" / "screenshots"

# Headless, and nothing in the background that could reach the network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
CHROMIUM_CANDIDATES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
RAW_MATH = ["$$", "\\begin", "\\(", "\\["]
PAGE_TIMEOUT_MS = 30_000


# --------------------------------------------------------------------------------------------- pages
def toc_docnames(root: Path = ROOT) -> list[str]:
    """The document names of ``_toc.yml`` in reading order: the root, then every ``file`` entry of every
    part, chapter and section (``glob`` entries expanded, ``url`` entries skipped)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    names: list[str] = [toc["root"]]

    def walk(entries) -> None:
        for entry in entries or []:
            if "file" in entry:
                names.append(str(entry["file"]))
            elif "glob" in entry:
                for path in sorted(root.glob(entry["glob"] + ".*")):
                    if path.suffix in {".md", ".ipynb"}:
                        names.append(str(path.relative_to(root).with_suffix("")))
            for key in ("sections", "chapters", "parts"):
                walk(entry.get(key))

    for key in ("parts", "chapters", "sections"):
        walk(toc.get(key))
    return [re.sub(r"\.(md|ipynb)$", "", n) for n in dict.fromkeys(names)]


def is_notebook(docname: str, root: Path = ROOT) -> bool:
    return (root / f"{docname}.ipynb").is_file()


def expected_colab_url(docname: str, root: Path = ROOT) -> str:
    """The Colab launch link Jupyter Book should render for a notebook page, from ``_config.yml``."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    repo = config["repository"]
    owner_name = urllib.parse.urlparse(repo["url"]).path.strip("/")
    book = str(repo.get("path_to_book") or "").strip("/")
    path = f"{book}/{docname}.ipynb" if book else f"{docname}.ipynb"
    colab = config["launch_buttons"]["colab_url"].rstrip("/")
    return f"{colab}/github/{owner_name}/blob/{repo.get('branch', 'main')}/{path}"


def screenshot_name(docname: str) -> str:
    return docname.replace("/", "__") + ".png"


# -------------------------------------------------------------------------------------------- server
class _QuietHandler(SimpleHTTPRequestHandler):
    timeout = 20  # seconds a connection may idle: a stuck client cannot hold a thread forever

    def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # a page closed mid-transfer is normal
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 at an ephemeral port in a background thread; yields the base URL
    (no trailing slash). The server is shut down and its socket closed on exit."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# ------------------------------------------------------------------------------------------- browser
def chromium_executable() -> str:
    """The system Chromium: ``$AEVAE_CHROMIUM``, else the first of chromium, chromium-browser,
    google-chrome on the PATH. (Playwright's own browser download is not used.)"""
    override = os.environ.get("AEVAE_CHROMIUM")
    if override:
        return override
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "No Chromium found (looked for $AEVAE_CHROMIUM, then " + ", ".join(CHROMIUM_CANDIDATES) + " on the "
        "PATH). Install it with `sudo apt-get install chromium` (.ci/run does)."
    )


def is_local(url: str) -> bool:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in {"data", "blob", "about"}:
        return True
    return parsed.scheme in {"http", "https"} and parsed.hostname in LOCAL_HOSTS


def block_non_local(page, blocked: list[str]) -> None:
    """Let ``page`` load local URLs only: every other request is aborted and its URL appended to ``blocked``."""

    def route(r):
        if is_local(r.request.url):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort("blockedbyclient")

    page.route("**/*", route)


@dataclass
class PageReport:
    url: str
    problems: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # non-local requests the page made (aborted)
    console: list[str] = field(default_factory=list)  # every console error, blocked ones included
    seconds: float = 0.0


# Runs in the page once it has loaded: images eager and loaded, MathJax finished, fonts ready.
_SETTLE_JS = """
async (timeoutMs) => {
  const settle = (async () => {
    const imgs = Array.from(document.images);
    for (const img of imgs) { if (img.loading === "lazy") img.loading = "eager"; }
    await Promise.all(imgs.map(img => img.complete ? null : new Promise(done => {
      img.addEventListener("load", done, {once: true});
      img.addEventListener("error", done, {once: true});
    })));
    if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
      await window.MathJax.startup.promise;
    }
    if (document.fonts) await document.fonts.ready;
  })();
  const timer = new Promise(done => setTimeout(() => done("timeout"), timeoutMs));
  return await Promise.race([settle.then(() => "ok"), timer]);
}
"""

# Collects what the checks look at, from the rendered DOM.
_INSPECT_JS = r"""
(rawMath) => {
  const article = document.querySelector("article.bd-article") || document.querySelector("article")
                  || document.querySelector("main");
  const out = {hasArticle: !!article, heading: "", images: [], rawMath: [], untypeset: 0, mathNodes: 0,
               mathErrors: [], glue: [], links: [], colab: []};
  out.images = Array.from(document.images).map(i => ({
    src: i.getAttribute("src") || "", url: i.currentSrc || i.src, complete: i.complete,
    w: i.naturalWidth, h: i.naturalHeight}));
  out.links = Array.from(document.querySelectorAll("a[href]")).map(a => ({
    href: a.href, raw: a.getAttribute("href")}));
  out.colab = out.links.map(l => l.href).filter(h => h.startsWith("https://colab.research.google.com/"));
  if (!article) return out;
  const h = article.querySelector("h1, h2");
  out.heading = h ? h.textContent.trim() : "";
  const nodes = Array.from(article.querySelectorAll(".math"));
  out.mathNodes = nodes.length;
  out.untypeset = nodes.filter(n => !n.querySelector("mjx-container") && n.tagName !== "MJX-CONTAINER").length;
  out.mathErrors = Array.from(article.querySelectorAll("mjx-merror")).map(
    e => e.getAttribute("data-mjx-error") || e.textContent.trim());
  const clone = article.cloneNode(true);
  clone.querySelectorAll("pre, code, script, style, textarea, .highlight, mjx-container")
       .forEach(e => e.remove());
  const text = clone.textContent;
  for (const token of rawMath) {
    const at = text.indexOf(token);
    if (at >= 0) out.rawMath.push([token, text.slice(Math.max(0, at - 30), at + 40).replace(/\s+/g, " ").trim()]);
  }
  out.glue = Array.from(document.querySelectorAll(".pasted-text, .pasted-inline")).map(e => ({
    text: e.textContent.trim(), hasImage: !!e.querySelector("img")}));
  return out;
}
"""


class Chromium:
    """Headless system Chromium with a fresh profile, every non-local request aborted.

    Use as a context manager; :meth:`check` inspects one page and returns a :class:`PageReport`.
    """

    def __init__(self, screenshots: Path | None = SCREENSHOTS, viewport=(1280, 900)):
        self.screenshots = screenshots
        self.viewport = viewport
        self._links: dict[str, tuple[int, set[str]]] = {}  # url without fragment -> (status, ids)

    def __enter__(self) -> "Chromium":
        from playwright.sync_api import sync_playwright  # the unit run need not import it

        self._profile = tempfile.mkdtemp(prefix="aevae-chromium-")
        self._pw = sync_playwright().start()
        try:
            self.context = self._pw.chromium.launch_persistent_context(
                self._profile,
                executable_path=chromium_executable(),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": self.viewport[0], "height": self.viewport[1]},
                service_workers="block",
                timeout=60_000,
            )
        except Exception:
            self._pw.stop()
            shutil.rmtree(self._profile, ignore_errors=True)
            raise
        self.context.set_default_timeout(PAGE_TIMEOUT_MS)
        for extra in self.context.pages:  # the persistent context opens one blank tab
            extra.close()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.context.close()
        finally:
            self._pw.stop()
            shutil.rmtree(self._profile, ignore_errors=True)

    # ---------------------------------------------------------------------------------------- links
    def _fetch(self, url: str) -> tuple[int, set[str]]:
        """HTTP status and element ids of a local URL (cached; only ever called for local URLs)."""
        if url not in self._links:
            assert is_local(url), url
            ids: set[str] = set()
            try:
                with urllib.request.urlopen(url, timeout=20) as resp:
                    status = resp.status
                    if "html" in resp.headers.get("Content-Type", ""):
                        body = resp.read().decode("utf-8", "replace")
                        ids = {html.unescape(m) for m in re.findall(r'\s(?:id|name)="([^"]+)"', body)}
            except urllib.error.HTTPError as err:
                status = err.code
            except (urllib.error.URLError, OSError):
                status = 0
            self._links[url] = (status, ids)
        return self._links[url]

    def _link_problems(self, page_url: str, links: list[dict]) -> list[str]:
        problems = []
        page = page_url.split("#", 1)[0]
        for link in links:
            href, raw = link["href"], link["raw"]
            if not is_local(href) or raw.startswith(("javascript:", "mailto:")):
                continue
            target, _, fragment = href.partition("#")
            target = target.split("?", 1)[0]
            status, ids = self._fetch(target)
            if status != 200:
                problems.append(f"broken internal link {raw!r}: {target} answered HTTP {status or 'nothing'}")
            elif fragment and urllib.parse.unquote(fragment) not in ids:
                where = "this page" if target == page else target
                problems.append(f"broken internal link {raw!r}: no id {fragment!r} in {where}")
        return sorted(set(problems))

    # ---------------------------------------------------------------------------------------- a page
    def check(self, url: str, *, colab: str | None = None, screenshot: str | None = None) -> PageReport:
        """Load ``url`` and list what is wrong with it. ``colab``: the Colab link the page must have
        (``None`` for a page that is not a chapter notebook). ``screenshot``: file name under
        ``self.screenshots``."""
        report = PageReport(url)
        start = time.perf_counter()
        page = self.context.new_page()
        external_errors: list[str] = []
        js_errors: list[str] = []

        def on_console(msg):
            if msg.type != "error":
                return
            source = (msg.location or {}).get("url", "")
            report.console.append(f"{msg.text} [{source}]")
            if source and not is_local(source) and msg.text.startswith("Failed to load resource"):
                external_errors.append(msg.text)  # our own abort of a non-local request: reported below
            else:
                js_errors.append(f"{msg.text}" + (f" (at {source})" if source else ""))

        block_non_local(page, report.blocked)
        page.on("console", on_console)
        page.on("pageerror", lambda err: js_errors.append(f"uncaught {err.name}: {err.message}"))
        try:
            response = page.goto(url, wait_until="load")
            if response is None or response.status != 200:
                report.problems.append(f"page did not load: HTTP {response.status if response else 'none'}")
                return report
            if page.evaluate(_SETTLE_JS, PAGE_TIMEOUT_MS // 2) != "ok":
                report.problems.append("page did not settle (images, MathJax, fonts) within "
                                       f"{PAGE_TIMEOUT_MS // 2000} s")
            info = page.evaluate(_INSPECT_JS, RAW_MATH)
            if self.screenshots is not None and screenshot:
                self.screenshots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(self.screenshots / screenshot), full_page=True)
            page.wait_for_timeout(50)  # let late console messages arrive
        finally:
            page.close()

        p = report.problems
        # 1. loads
        if not info["hasArticle"]:
            p.append("page has no <article>: not a rendered book page")
        elif not info["heading"]:
            p.append("page has no heading")
        # 2. JavaScript
        p += [f"JavaScript console error: {e}" for e in js_errors]
        p += [f"needs a resource outside the book (blocked; the book must render offline): {u}"
              for u in dict.fromkeys(report.blocked)]
        # 3. images
        for img in info["images"]:
            if not img["complete"] or img["w"] == 0 or img["h"] == 0:
                p.append(f"image did not load: {img['src'] or img['url']}")
        # 4. math
        if info["untypeset"]:
            p.append(f"math not typeset: {info['untypeset']} of {info['mathNodes']} math nodes have no MathJax output")
        p += [f"MathJax error: {e}" for e in info["mathErrors"]]
        p += [f"raw math ({token}) left in the text: ...{s}..." for token, s in info["rawMath"]]
        # 5. Colab
        if colab is not None:
            if not info["colab"]:
                p.append(f"no Colab launch link (expected {colab})")
            elif set(info["colab"]) != {colab}:
                p.append(f"Colab launch link {sorted(set(info['colab']))} is not {colab}")
        # 6. links
        p += self._link_problems(url, info["links"])
        # 7. glue
        for g in info["glue"]:
            if not g["text"] and not g["hasImage"]:
                p.append("empty glue placeholder (a {glue} with no value)")
            elif g["text"].lower() in {"nan", "inf", "-inf", "+inf"}:
                p.append(f"glued value is {g['text']}")
        report.problems = list(dict.fromkeys(p))  # a failed image logs its 404 once per attempt
        report.seconds = time.perf_counter() - start
        return report


# --------------------------------------------------------------------------------- a broken copy
def broken_copy(build: Path, docname: str, dest: Path, edit) -> Path:
    """A copy of the built book in ``dest`` (symbolic links, cheap) in which the page ``docname`` is
    replaced by ``edit(html) -> html``. Returns ``dest``."""
    victim = build / f"{docname}.html"
    original = victim.read_text(encoding="utf-8")
    changed = edit(original)
    if changed == original:
        raise ValueError(f"the edit changed nothing in {victim}")
    rel = victim.relative_to(build)
    dest.mkdir(parents=True, exist_ok=True)
    # Real folders along the page's path, links for everything else.
    here_src, here_dst = build, dest
    for part in rel.parts[:-1]:
        for entry in here_src.iterdir():
            if entry.name != part:
                (here_dst / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
        here_src, here_dst = here_src / part, here_dst / part
        here_dst.mkdir()
    for entry in here_src.iterdir():
        if entry.name != rel.name:
            (here_dst / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    (here_dst / rel.name).write_text(changed, encoding="utf-8")
    return dest
