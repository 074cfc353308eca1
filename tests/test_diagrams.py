"""The diagrams of aevae.diagrams: each draws the boxes and arrows it promises, fast, without error."""

import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import EllipseCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from aevae import diagrams  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _rendered(fig):
    fig.canvas.draw()  # layout and text rendering (mathtext) must not raise
    return fig


def test_ae_and_vae_side_by_side():
    fig = _rendered(diagrams.ae_vae_diagram())
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ae, vae = fig.axes
    assert diagrams.labels_of(ae, "box") == ["x", "512 (encoder)", "256 (encoder)", "z", "256 (decoder)",
                                            "512 (decoder)", "x_hat"]
    assert {"mu", "log sigma^2", "epsilon", "z"} <= set(diagrams.labels_of(vae, "box"))
    vae_arrows = set(diagrams.labels_of(vae, "arrow"))
    # the head gives mu and log sigma^2; the noise enters at z; z feeds the decoder
    assert {"256 (encoder) -> mu", "256 (encoder) -> log sigma^2", "mu -> z", "log sigma^2 -> z",
            "epsilon -> z", "z -> 256 (decoder)"} <= vae_arrows
    assert "epsilon -> z" not in diagrams.labels_of(ae, "arrow")
    texts = [t.get_text() for a in fig.axes for t in a.texts]
    assert any("784" in t for t in texts) and any("512" in t for t in texts) and any("(k)" in t for t in texts)


def test_the_code_size_is_written_into_the_ae():
    fig = _rendered(diagrams.ae_diagram(k=2))
    assert any(t.get_text() == "$z$\n2" for t in fig.axes[0].texts)
    assert len(diagrams.labels_of(fig, "arrow")) == 6  # a chain of seven boxes


def test_reparameterization_moves_the_noise_off_the_gradient_path():
    fig = _rendered(diagrams.reparameterization_diagram())
    without, with_trick = (set(diagrams.labels_of(ax, "arrow")) for ax in fig.axes)
    forward = {"encoder -> mu", "encoder -> sigma", "mu -> z", "sigma -> z", "z -> decoder", "decoder -> loss"}
    assert forward <= without and forward <= with_trick
    # with the trick the gradient reaches mu and sigma through z; without it, it stops at the random z
    assert {"gradient: z -> mu", "gradient: z -> sigma"} <= with_trick
    assert not any(a.startswith("gradient: z") for a in without)
    assert "epsilon -> z" in with_trick and not any(a.endswith("-> epsilon") for a in with_trick)
    assert "epsilon" in diagrams.labels_of(fig.axes[1], "box")
    assert "epsilon" not in diagrams.labels_of(fig.axes[0], "box")


def test_latent_ellipses_draws_one_ellipse_per_posterior_and_ae_points():
    rng = np.random.default_rng(0)
    n = 300
    mu, sigma = rng.normal(size=(n, 2)), rng.uniform(0.1, 0.5, size=(n, 2))
    labels = rng.integers(0, 10, n)
    fig = _rendered(diagrams.latent_ellipses(torch.tensor(mu), sigma, labels, ae_codes=3 * mu, n_sigma=2))
    assert len(fig.axes) == 2
    ells = [c for c in fig.axes[0].collections if isinstance(c, EllipseCollection)]
    assert len(ells) == 1 and len(ells[0].get_offsets()) == n
    np.testing.assert_allclose(ells[0].get_widths(), 2 * 2 * sigma[:, 0])  # 2-sigma ellipses: full width 4 sigma
    assert len(fig.axes[1].collections[0].get_offsets()) == n
    one = diagrams.latent_ellipses(mu, sigma, labels, max_points=50)
    assert len(one.axes) == 1
    assert len([c for c in one.axes[0].collections if isinstance(c, EllipseCollection)][0].get_offsets()) == 50


def test_latent_ellipses_rejects_bad_shapes_and_log_variances():
    mu = np.zeros((5, 2))
    with pytest.raises(ValueError, match="shape"):
        diagrams.latent_ellipses(mu, np.ones((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="positive"):
        diagrams.latent_ellipses(mu, -np.ones((5, 2)), np.zeros(5))


def test_graphical_models_of_the_three_sequence_models():
    fig = _rendered(diagrams.graphical_models())
    rnn, vrnni, vrnn = (set(diagrams.labels_of(ax, "arrow")) for ax in fig.axes)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["RNN", "VRNN-I", "VRNN"]
    recurrence = {"h_{t-1} -> h_t", "h_{t-1} -> x_t", "x_t -> h_t"}
    assert rnn == recurrence and "z_t" not in diagrams.labels_of(fig.axes[0], "box")
    assert recurrence | {"z_t -> x_t", "z_t -> h_t"} <= vrnni and recurrence <= vrnn
    assert "h_{t-1} -> z_t" in vrnn and "h_{t-1} -> z_t" not in vrnni  # the learned prior; VRNN-I's is fixed


def test_every_diagram_is_fast():
    start = time.perf_counter()
    rng = np.random.default_rng(1)
    for fig in (diagrams.ae_vae_diagram(), diagrams.reparameterization_diagram(), diagrams.graphical_models(),
                diagrams.latent_ellipses(rng.normal(size=(2000, 2)), np.full((2000, 2), 0.2),
                                         rng.integers(0, 10, 2000), ae_codes=rng.normal(size=(2000, 2)))):
        _rendered(fig)
    assert time.perf_counter() - start < 20


# The figure helpers the chapters' cells call (aevae.plotting) to keep figure plumbing out of view.

def test_principal_directions_draws_the_mean_and_n_components():
    from aevae.plotting import principal_directions

    rng = np.random.default_rng(0)
    comps = rng.normal(size=(784, 20))
    fig = principal_directions(torch.tensor(rng.random(784)), torch.tensor(comps), n=15)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["mean"] + [f"PC {i}" for i in range(1, 16)]
    first = fig.axes[1].images[0]
    lim = np.abs(comps[:, 0]).max()
    assert first.get_clim() == pytest.approx((-lim, lim))  # a symmetric colour scale per direction


def test_cumulative_variance_marks_the_chosen_k():
    from aevae.plotting import cumulative_variance

    cum = np.cumsum(np.full(100, 0.01))
    ax = cumulative_variance(torch.tensor(cum), marks=(2, 50), level=0.9)
    assert [t.get_text() for t in ax.texts] == ["k=2: 2.0%", "k=50: 50.0%"]
    assert ax.get_xscale() == "log" and ax.get_ylim() == pytest.approx((0, 1.01))


def test_curves_draws_one_line_per_series_with_its_own_x():
    from aevae.plotting import curves

    ax = curves([1, 2, 4], {"a": [3.0, 2.0, 1.0], "b": (np.arange(1, 6), torch.arange(5.0) + 1)}, "k", "mse",
                logx=2, logy=True, hline=(0.5, "floor"))
    lines = ax.get_lines()
    assert [l.get_label() for l in lines] == ["a", "b", "floor"]
    assert list(lines[1].get_xdata()) == [1, 2, 3, 4, 5]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log" and ax.get_xlabel() == "k"


# The decision tree of chapter 8's flowchart (aevae.diagrams.decision_tree), on a tree of the same shape.

from matplotlib.path import Path  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

TREE = {"question": "Sequences with several\npossible continuations?", "yes": "MDN-RNN\n-0.567 nats/step (VRNN -0.307)",
        "no": {"question": "Need new samples?",
               "yes": {"question": "One model, a fixed prior,\nno second stage?", "yes": "VAE\nFréchet 62.8",
                       "no": "AE + a fitted mixture\nFréchet 4.8 ± 0.2 (VAE prior: 62.8 ± 2.8)"},
               "no": {"question": "Need a likelihood?", "yes": "VAE, −IWAE in nats\n190.8 floor vs 238.8",
                      "no": {"question": "Need disentangled factors?", "yes": "no reliable choice:\nMIG 0.08 vs 0.90",
                             "no": "AE: compress, reconstruct,\ndenoise, classifier features"}}}}


def _count(tree):
    """(questions, leaves) of a tree, counted independently of the drawing code."""
    if isinstance(tree, str):
        return 0, 1
    (qy, ly), (qn, ln) = _count(tree["yes"]), _count(tree["no"])
    return 1 + qy + qn, ly + ln


def _drawn_tree(tree=TREE, **kw):
    fig, boxes = diagrams.decision_tree(tree, **kw)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    extent = {path: box.get_bbox_patch().get_window_extent(renderer) for path, box in boxes.items()}
    arrows = [t for t in fig.axes[0].texts if isinstance(t, Annotation) and t.arrow_patch is not None]
    return fig, boxes, extent, arrows, renderer


def _to_boundary(point, bbox):
    """Distance in pixels from a point to the outline of a bounding box (inside or out)."""
    x, y = point
    dx, dy = max(bbox.x0 - x, 0, x - bbox.x1), max(bbox.y0 - y, 0, y - bbox.y1)
    if dx or dy:
        return float(np.hypot(dx, dy))
    return float(min(x - bbox.x0, bbox.x1 - x, y - bbox.y0, bbox.y1 - y))


def _ends(arrow):
    """The drawn start (the path's first vertex) and tip (its farthest vertex: arrows are straight) in pixels."""
    patch = arrow.arrow_patch
    path = patch.get_transform().transform_path(patch.get_path())
    codes = path.codes if path.codes is not None else np.full(len(path.vertices), Path.LINETO)
    vertices = path.vertices[(codes != Path.CLOSEPOLY) & (codes != Path.STOP)]  # a CLOSEPOLY's vertex is unused
    start = vertices[0]
    tip = vertices[np.argmax(np.hypot(*(vertices - start).T))]
    return start, tip


def test_decision_tree_arrows_start_and_end_on_their_boxes():
    fig, boxes, extent, arrows, _ = _drawn_tree()
    by_artist = {id(box): path for path, box in boxes.items()}
    questions, _ = _count(TREE)
    assert len(arrows) == 2 * questions
    seen = set()
    for arrow in arrows:
        source, target = by_artist[id(arrow.anncoords)], by_artist[id(arrow.xycoords)]
        assert target[:-1] == source and target[-1] in ("yes", "no"), (source, target)
        seen.add(target)
        start, tip = _ends(arrow)
        assert _to_boundary(start, extent[source]) <= 2, (arrow.get_label(), start, extent[source])
        assert _to_boundary(tip, extent[target]) <= 2, (arrow.get_label(), tip, extent[target])
        # and in between it crosses no box: points along it lie outside every box
        for t in np.linspace(0.05, 0.95, 40):
            point = start + t * (tip - start)
            for path, bbox in extent.items():
                assert not bbox.shrunk(1, 1).contains(*point) or _to_boundary(point, bbox) <= 2, \
                    f"{arrow.get_label()} crosses the box {boxes[path].get_label()!r}"
    assert seen == {p for p in boxes if p}  # every box but the root is reached by exactly one arrow


def test_decision_tree_boxes_and_branch_labels_do_not_overlap():
    fig, boxes, extent, arrows, renderer = _drawn_tree()
    paths = list(extent)
    for i, a in enumerate(paths):
        for b in paths[i + 1:]:
            ea, eb = extent[a], extent[b]
            overlap = min(ea.x1, eb.x1) - max(ea.x0, eb.x0) > 0 and min(ea.y1, eb.y1) - max(ea.y0, eb.y0) > 0
            assert not overlap, f"boxes {boxes[a].get_label()!r} and {boxes[b].get_label()!r} overlap"
    labels = [t for t in fig.axes[0].texts if t.get_text() in ("yes", "no") and not isinstance(t, Annotation)]
    questions, _ = _count(TREE)
    assert sorted(t.get_text() for t in labels) == ["no"] * questions + ["yes"] * questions
    for label in labels:
        e = label.get_window_extent(renderer)
        assert not any(e.overlaps(bbox) for bbox in extent.values()), f"a {label.get_text()!r} label sits on a box"
    # the figure fits the page: the whole diagram lies inside it, text no smaller than 8 pt
    width, height = fig.get_size_inches() * fig.dpi
    for bbox in extent.values():
        assert bbox.x0 >= 0 and bbox.y0 >= 0 and bbox.x1 <= width and bbox.y1 <= height
    assert min(box.get_fontsize() for box in boxes.values()) >= 8


def test_decision_tree_draws_one_box_per_question_and_leaf():
    fig, boxes, *_ = _drawn_tree()
    questions, leaves = _count(TREE)
    gids = [box.get_gid() for box in boxes.values()]
    assert gids.count("question") == questions == 5 and gids.count("leaf") == leaves == 6
    assert boxes[()].get_text() == TREE["question"]
    assert boxes[("no", "yes", "no")].get_text() == TREE["no"]["yes"]["no"]
    # "yes" leads right on the same row, "no" down in the same column
    (x0, y0), (xy, yy), (xn, yn) = (boxes[p].get_position() for p in ((), ("yes",), ("no",)))
    assert xy > x0 and yy == y0 and xn == x0 and yn < y0
    single, only = diagrams.decision_tree("just do it")
    assert list(only) == [()] and only[()].get_gid() == "leaf"


def test_decision_tree_on_a_given_axes_and_too_small_axes():
    fig, ax = plt.subplots(figsize=(12, 8))
    same, boxes = diagrams.decision_tree(TREE, ax=ax)
    assert same is fig and len(boxes) == 11
    _, small = plt.subplots(figsize=(2, 2))
    with pytest.raises(ValueError, match="too small"):
        diagrams.decision_tree(TREE, ax=small)


@pytest.mark.parametrize("tree, problem", [
    ({"question": "Need samples?", "yes": "VAE"}, r"two branches.*lacks 'no'"),
    ({"question": "Need samples?"}, r"two branches.*lacks 'yes' and 'no'"),
    ({"question": "Need samples?", "yes": "VAE", "no": {"question": "Deeper?", "no": "AE"}},
     r"'Deeper\?' at the branch no needs two branches.*lacks 'yes'"),
    ({"question": "Need samples?", "yes": "", "no": "AE"}, r"empty label.*leaf at the branch yes"),
    ({"question": "  ", "yes": "VAE", "no": "AE"}, r"empty label.*question at the root"),
    ({"question": "Need samples?", "yes": "VAE", "no": "AE", "maybe": "PCA"}, r"other than.*'maybe'"),
    ({"question": "Need samples?", "yes": 3, "no": "AE"}, r"must be a leaf"),
])
def test_decision_tree_rejects_bad_trees_naming_the_problem(tree, problem):
    with pytest.raises(ValueError, match=problem):
        diagrams.decision_tree(tree)
