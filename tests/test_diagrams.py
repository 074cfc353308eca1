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
