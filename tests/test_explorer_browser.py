"""The latent explorer (aevae.explorer) in a real browser: headless system Chromium through Playwright, as in
tests/test_browser.py, with every request that does not go to this machine aborted.

* a standalone page (two fixed-seed, untrained book_net(2) decoders; the page holds the explorer twice, so
  its element ids must not clash): moving the pointer over a map changes both decoded images; at three
  fixed codes the pixels drawn on the canvases match PyTorch's decoders within 1/255; the slider
  interpolates; the background toggles; no console error, no request leaves the machine. A screenshot goes
  to artifacts/explorer.png;
* the built chapter page (_build/html/chapters/04_vae.html, from `make html`) holds a working explorer.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from browser_support import BUILD, ROOT, Chromium, block_non_local, serve

pytestmark = pytest.mark.browser

CODES = [(0.0, 0.0), (1.3, -0.7), (-2.4, 1.9)]  # the three codes at which the page must match PyTorch
SCREENSHOT = ROOT / "artifacts" / "explorer.png"
AGREEMENT = ROOT / "artifacts" / "explorer_agreement.json"
CHAPTER = "chapters/04_vae"


def _mean_images(ae, vae, z) -> list[np.ndarray]:
    """What each decoder draws: the AE's decode(z) (sigmoid inside), the VAE's sigmoid(logits)."""
    z = torch.tensor(z, dtype=torch.float32)
    with torch.no_grad():
        return [ae.decode(z).numpy().astype(np.float64), torch.sigmoid(vae.decode(z)).numpy().astype(np.float64)]


@pytest.fixture(scope="module")
def chromium():
    with Chromium(screenshots=None) as browser:
        yield browser


@pytest.fixture(scope="module")
def standalone(tmp_path_factory, k2_models):
    from aevae.explorer import explorer_html, standalone_page

    ae, vae = k2_models
    rng = np.random.default_rng(0)
    n = 600
    labels = rng.integers(0, 10, n)
    centres = rng.normal(size=(10, 2))
    codes_ae = 4 * centres[labels] + rng.normal(size=(n, 2))  # an AE-like map: wide, clustered
    codes_vae = 0.8 * centres[labels] + 0.4 * rng.normal(size=(n, 2))  # a VAE-like one, about N(0, I)
    images = rng.random((n, 784))
    first = explorer_html(ae, vae, codes_ae, codes_vae, labels, images=images, class_names=[f"class {c}" for c in range(10)])
    second = explorer_html(ae, vae, codes_ae, codes_vae, labels)  # the same data again: a different id
    folder = tmp_path_factory.mktemp("explorer")
    (folder / "explorer.html").write_text(standalone_page(first + "\n<hr>\n" + second), encoding="utf-8")
    return folder, (ae, vae), (first, second)


def _payload(fragment: str) -> dict:
    """The data an explorer's HTML hands to its script."""
    call = fragment.split("window.aevaeExplorerLib.create(", 1)[1]
    return json.loads(call.split(", ", 1)[1].rsplit(");", 1)[0])


class _Page:
    """A Chromium tab with every non-local request aborted and every console error recorded."""

    def __init__(self, chromium):
        self.page = chromium.context.new_page()
        self.errors: list[str] = []
        self.blocked: list[str] = []

        block_non_local(self.page, self.blocked)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught {e.name}: {e.message}"))

    def explorer_ids(self) -> list[str]:
        self.page.wait_for_function("() => window.aevaeExplorer && Object.keys(window.aevaeExplorer).length > 0")
        return self.page.evaluate("() => Object.keys(window.aevaeExplorer)")

    def pixels(self, eid: str, model: int) -> np.ndarray:
        return np.array(self.page.evaluate("([id, m]) => window.aevaeExplorer[id].pixels(m)", [eid, model]))

    def hover_map(self, eid: str, model: int, fx: float, fy: float) -> None:
        """Move the real mouse to the fraction (fx, fy) of the model's map."""
        box = self.page.locator(f"#{eid} canvas.aevae-x-map").nth(model).bounding_box()
        self.page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=4)

    def close(self) -> None:
        self.page.wait_for_timeout(50)  # late console messages
        self.page.close()


def _pointer_moves_both_images(tab: _Page, eid: str) -> None:
    tab.page.locator(f"#{eid}").scroll_into_view_if_needed()
    tab.hover_map(eid, 0, 0.2, 0.25)
    before = [tab.pixels(eid, m) for m in (0, 1)]
    z_before = tab.page.evaluate("(id) => window.aevaeExplorer[id].code(0)", eid)
    tab.hover_map(eid, 1, 0.85, 0.7)  # over the other map: the same code goes to both decoders
    after = [tab.pixels(eid, m) for m in (0, 1)]
    z_after = tab.page.evaluate("(id) => window.aevaeExplorer[id].code(1)", eid)
    assert z_before != z_after
    for m in (0, 1):
        assert np.any(before[m] != after[m]), f"moving the pointer did not change image {m} of {eid}"
        assert 0 <= after[m].min() and after[m].max() <= 255


# --------------------------------------------------------------------------------- a standalone page
def test_standalone_explorer_matches_pytorch(standalone, chromium):
    folder, (ae, vae), (first, second) = standalone
    tab = _Page(chromium)
    worst = {}
    try:
        with serve(folder) as url:
            tab.page.goto(f"{url}/explorer.html", wait_until="load")
            ids = tab.explorer_ids()
            assert len(ids) == 2 and ids[0] != ids[1], ids
            assert tab.page.locator(".aevae-explorer").count() == 2
            for eid in ids:
                assert f'id="{eid}"' in first + second

            # the pointer drives both decoders, in both copies on the page
            for eid in ids:
                _pointer_moves_both_images(tab, eid)

            # three fixed codes: the canvas pixels and the decoded values against PyTorch
            eid = ids[0]
            for z in CODES:
                tab.page.evaluate("([id, z]) => window.aevaeExplorer[id].setCode(z)", [eid, list(z)])
                want = _mean_images(ae, vae, [z])
                for m, name in enumerate(("AE", "VAE")):
                    drawn = tab.pixels(eid, m)  # 255 - round(255 p): dark ink on white
                    decoded = np.array(tab.page.evaluate("([id, m, z]) => window.aevaeExplorer[id].decode(m, z)",
                                                         [eid, m, list(z)]))
                    p = want[m][0]
                    canvas_err = np.abs((255 - drawn) - 255 * p).max()  # includes the rounding to 0..255
                    value_err = 255 * np.abs(decoded - p).max()
                    worst[f"{name} z={z}"] = {"canvas": round(float(canvas_err), 4), "decoded": round(float(value_err), 4)}
                    assert value_err < 1, f"{name} at z={z}: page decodes {value_err:.3f}/255 away from PyTorch"
                    assert canvas_err <= 1, f"{name} at z={z}: canvas pixel {canvas_err:.3f}/255 from PyTorch"
                    assert np.array_equal(255 - drawn, np.round(255 * np.clip(decoded, 0, 1))), "canvas != decode()"

            # the slider: each model between its own codes of the two images
            tab.page.locator(f"#{eid} input.aevae-x-t").evaluate(
                "(el) => { el.value = 0.5; el.dispatchEvent(new Event('input', {bubbles: true})); }")
            for m in (0, 1):
                z = tab.page.evaluate("([id, m]) => window.aevaeExplorer[id].code(m)", [eid, m])
                pair = _payload(first)["pairCodes"][m]
                np.testing.assert_allclose(z, 0.5 * np.add(pair[0], pair[1]), atol=1e-9)
                want = _mean_images(ae, vae, [z])[m][0]
                assert np.abs((255 - tab.pixels(eid, m)) - 255 * want).max() <= 1

            # the background: codes <-> decoded images
            before = tab.page.locator(f"#{eid} canvas.aevae-x-map").first.screenshot()
            tab.page.locator(f"#{eid} button.aevae-x-bg").click()
            tab.page.wait_for_timeout(100)
            assert tab.page.locator(f"#{eid} canvas.aevae-x-map").first.screenshot() != before
            tab.page.locator(f"#{eid} button.aevae-x-bg").click()

            tab.hover_map(eid, 1, 0.4, 0.6)
            SCREENSHOT.parent.mkdir(exist_ok=True)
            tab.page.locator(f"#{eid}").screenshot(path=str(SCREENSHOT))
    finally:
        tab.close()
    AGREEMENT.write_text(json.dumps({"max_abs_difference_in_1/255": worst}, indent=2) + "\n")
    assert tab.errors == [], tab.errors
    assert tab.blocked == [], tab.blocked
    assert SCREENSHOT.stat().st_size > 0


# ------------------------------------------------------------------------------- the built chapter
def test_built_chapter_has_a_working_explorer(chromium):
    page_file = BUILD / f"{CHAPTER}.html"
    if not page_file.is_file():
        pytest.fail(f"No built chapter at {page_file}: run `make html` first (`make test` does).")
    has_explorer = 'class="aevae-explorer"' in page_file.read_text(encoding="utf-8")
    assert has_explorer, f"{page_file} has no latent explorer (the explorer cell of {CHAPTER}.md)"
    tab = _Page(chromium)
    try:
        with serve(BUILD) as url:
            tab.page.goto(f"{url}/{CHAPTER}.html", wait_until="load")
            ids = tab.explorer_ids()
            assert ids, "no explorer registered itself on the page"
            for eid in ids:
                _pointer_moves_both_images(tab, eid)
    finally:
        tab.close()
    assert tab.errors == [], tab.errors
    assert tab.blocked == [], tab.blocked
