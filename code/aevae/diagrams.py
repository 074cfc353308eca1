"""Diagrams drawn by code (matplotlib, PNG in the notebooks): the architectures, the reparameterization
trick, the k = 2 latent map with posteriors as ellipses, and the graphical models of chapter 7.

Every box, node and arrow is a matplotlib patch whose label (``patch.get_label()``) names it: a box by
its text, an arrow as ``"source -> target"``. The tests read the drawings through these labels, and so
can a reader who wants to restyle one.
"""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import EllipseCollection
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from .data import CLASSES

__all__ = ["ae_diagram", "vae_diagram", "ae_vae_diagram", "reparameterization_diagram", "latent_ellipses",
           "graphical_models", "labels_of", "decision_tree"]

# Colours: encoder, code, decoder, noise (stochastic), gradients.
ENC, CODE, DEC, NOISE, GRAD = "#cfe2f3", "#fde9a9", "#d9ead3", "#f4cccc", "#c0392b"


def labels_of(fig_or_ax, kind: str | None = None) -> list[str]:
    """The labels of the boxes (``kind="box"``), arrows (``"arrow"``) or both, drawn on a figure or axes."""
    from matplotlib.figure import Figure

    axes = fig_or_ax.axes if isinstance(fig_or_ax, Figure) else [fig_or_ax]
    out = []
    for ax in axes:
        for p in ax.patches:
            label = p.get_label()
            if not label or label.startswith("_"):
                continue
            is_arrow = isinstance(p, FancyArrowPatch)
            if kind is None or (kind == "arrow") == is_arrow:
                out.append(label)
    return out


def _box(ax, x, y, text, w=0.9, h=1.0, color=ENC, label=None, fontsize=10, round_=True):
    """A labelled box centred at (x, y); returns its (x, y, w, h) for arrows."""
    style = "round,pad=0.02,rounding_size=0.12" if round_ else "square,pad=0.02"
    patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=style, fc=color, ec="0.25", lw=1.2,
                           label=label or text.replace("\n", " "))
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)
    return (x, y, w, h)


def _node(ax, x, y, text, r=0.42, color="white", label=None, fontsize=11, observed=False):
    """A round node (a random variable, as in a graphical model); returns (x, y, 2r, 2r)."""
    patch = Circle((x, y), r, fc="0.82" if observed else color, ec="0.2", lw=1.3,
                   label=label or text.replace("$", ""))
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)
    return (x, y, 2 * r, 2 * r)


def _edge_point(box, toward):
    """Where the segment from a box's centre toward ``toward`` leaves the box (boxes and circles alike)."""
    x, y, w, h = box
    dx, dy = toward[0] - x, toward[1] - y
    if dx == dy == 0:
        return x, y
    scale = min((w / 2) / abs(dx) if dx else math.inf, (h / 2) / abs(dy) if dy else math.inf)
    return x + dx * scale, y + dy * scale


def _arrow(ax, a, b, label, color="0.2", ls="-", lw=1.4, rad=0.0, text=None, text_offset=(0, 0.25),
           fontsize=9):
    """An arrow from box ``a`` to box ``b`` (tuples from _box/_node), labelled ``label``."""
    start = _edge_point(a, b[:2])
    end = _edge_point(b, a[:2])
    patch = FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=13, color=color, lw=lw, ls=ls,
                            connectionstyle=f"arc3,rad={rad}", label=label, shrinkA=2, shrinkB=2)
    ax.add_patch(patch)
    if text:
        mx, my = (start[0] + end[0]) / 2 + text_offset[0], (start[1] + end[1]) / 2 + text_offset[1]
        ax.text(mx, my, text, ha="center", va="center", fontsize=fontsize, color=color)
    return patch


def _height(width) -> float:
    """Box height for a layer of ``width`` units (the symbolic code size k gets the smallest)."""
    if not isinstance(width, (int, np.integer)):
        return 0.9
    return 0.9 + 2.6 * math.sqrt(width / 784)


def _chain(ax, xs, y, specs):
    """Boxes along a row: specs are (text, width, colour); returns the boxes."""
    return [_box(ax, x, y, text, w=0.95, h=_height(width), color=color) for x, (text, width, color) in zip(xs, specs)]


def _frame(ax, title):
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=12, loc="left")


def _draw_ae(ax, k="k", hidden=(512, 256), input_dim=784):
    h1, h2 = hidden
    specs = [(f"$x$\n{input_dim}", input_dim, "white"), (f"{h1}\nReLU", h1, ENC), (f"{h2}\nReLU", h2, ENC),
             (f"$z$\n{k}", k, CODE), (f"{h2}\nReLU", h2, DEC), (f"{h1}\nReLU", h1, DEC),
             (f"$\\hat x$\n{input_dim}", input_dim, "white")]
    xs = [0, 1.6, 3.2, 5.6, 8.0, 9.6, 11.2]  # the VAE's columns (its z sits where the AE's z does)
    boxes = _chain(ax, xs, 0, specs)
    names = ["x", f"{h1} (encoder)", f"{h2} (encoder)", "z", f"{h2} (decoder)", f"{h1} (decoder)", "x_hat"]
    for patch, name in zip(ax.patches[-7:], names):
        patch.set_label(name)
    for (a, b), (na, nb) in zip(zip(boxes, boxes[1:]), zip(names, names[1:])):
        _arrow(ax, a, b, f"{na} -> {nb}")
    ax.text(1.6, -2.1, "encoder", ha="center", fontsize=10, color="0.3")
    ax.text(9.6, -2.1, "decoder", ha="center", fontsize=10, color="0.3")
    ax.text(5.6, -1.0, "a point", ha="center", fontsize=9, color="0.3")
    ax.text(9.6, 2.05, r"loss: $\|x - \hat x\|^2$ per pixel", ha="center", fontsize=10)
    ax.set_xlim(-0.7, 11.9)
    ax.set_ylim(-2.4, 2.4)


def _draw_vae(ax, k="k", hidden=(512, 256), input_dim=784):
    h1, h2 = hidden
    x = _box(ax, 0, 0, f"$x$\n{input_dim}", w=0.95, h=_height(input_dim), color="white", label="x")
    e1 = _box(ax, 1.6, 0, f"{h1}\nReLU", w=0.95, h=_height(h1), color=ENC, label=f"{h1} (encoder)")
    e2 = _box(ax, 3.2, 0, f"{h2}\nReLU", w=0.95, h=_height(h2), color=ENC, label=f"{h2} (encoder)")
    mu = _box(ax, 4.6, 0.75, f"$\\mu$  ({k})", w=1.15, h=0.6, color=CODE, label="mu")
    lv = _box(ax, 4.6, -0.75, f"$\\log\\sigma^2$  ({k})", w=1.15, h=0.6, color=CODE, label="log sigma^2")
    eps = _node(ax, 6.35, 1.85, "$\\epsilon$", r=0.36, color=NOISE, label="epsilon")
    ax.text(5.85, 1.85, r"$\epsilon \sim \mathcal{N}(0, I)$", ha="right", va="center", fontsize=9)
    z = _box(ax, 6.35, 0, "$z = \\mu + \\sigma \\odot \\epsilon$", w=1.45, h=0.75, color=CODE, label="z",
             fontsize=9)
    d2 = _box(ax, 8.0, 0, f"{h2}\nReLU", w=0.95, h=_height(h2), color=DEC, label=f"{h2} (decoder)")
    d1 = _box(ax, 9.6, 0, f"{h1}\nReLU", w=0.95, h=_height(h1), color=DEC, label=f"{h1} (decoder)")
    xh = _box(ax, 11.2, 0, f"$\\hat x$\n{input_dim}", w=0.95, h=_height(input_dim), color="white",
              label="x_hat")
    _arrow(ax, x, e1, "x -> 512 (encoder)")
    _arrow(ax, e1, e2, "512 (encoder) -> 256 (encoder)")
    _arrow(ax, e2, mu, "256 (encoder) -> mu")
    _arrow(ax, e2, lv, "256 (encoder) -> log sigma^2")
    _arrow(ax, mu, z, "mu -> z")
    _arrow(ax, lv, z, "log sigma^2 -> z")
    _arrow(ax, eps, z, "epsilon -> z", color="#b04040")
    _arrow(ax, z, d2, "z -> 256 (decoder)")
    _arrow(ax, d2, d1, "256 (decoder) -> 512 (decoder)")
    _arrow(ax, d1, xh, "512 (decoder) -> x_hat")
    ax.text(1.6, -2.1, r"encoder $q(z \mid x)$", ha="center", fontsize=10, color="0.3")
    ax.text(9.6, -2.1, r"decoder $p(x \mid z)$", ha="center", fontsize=10, color="0.3")
    ax.text(4.6, -1.45, "a distribution", ha="center", fontsize=9, color="0.3")
    ax.text(9.6, 2.05, r"loss: $-\log p(x \mid z) + \mathrm{KL}(q(z \mid x)\,\|\,\mathcal{N}(0, I))$",
            ha="center", fontsize=10)
    ax.set_xlim(-0.7, 11.9)
    ax.set_ylim(-2.4, 2.4)


def ae_diagram(k="k", hidden=(512, 256), input_dim=784, ax=None):
    """The book's autoencoder, 784 → 512 → 256 → k → 256 → 512 → 784, as labelled boxes."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(10, 2.9))
    _draw_ae(ax, k, hidden, input_dim)
    _frame(ax, "Autoencoder: the encoder gives a point $z$")
    return fig


def vae_diagram(k="k", hidden=(512, 256), input_dim=784, ax=None):
    """The book's VAE: the same body, a head giving μ and log σ², the noise ε entering at z."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(10, 2.9))
    _draw_vae(ax, k, hidden, input_dim)
    _frame(ax, r"VAE: the encoder gives a Gaussian $\mathcal{N}(\mu, \sigma^2)$; $z$ is drawn from it")
    return fig


def ae_vae_diagram(k="k", hidden=(512, 256), input_dim=784):
    """The AE and the VAE one above the other on the same scale: same body, same decoder; they differ in
    the encoder's head (a point vs μ and log σ²), in the noise ε that enters the VAE at z, and in the loss."""
    fig, axes = plt.subplots(2, 1, figsize=(10, 5.4))
    _draw_ae(axes[0], k, hidden, input_dim)
    _frame(axes[0], "Autoencoder: the encoder gives a point $z$")
    _draw_vae(axes[1], k, hidden, input_dim)
    _frame(axes[1], r"VAE: the encoder gives a Gaussian $\mathcal{N}(\mu, \sigma^2)$; $z$ is drawn from it")
    axes[0].set_xlim(axes[1].get_xlim())
    fig.tight_layout()
    return fig


def reparameterization_diagram():
    """The reparameterization trick as two computational graphs. Left: z is drawn from N(μ, σ²), a random
    node on the path from the encoder to the loss, and no gradient flows through it. Right: z = μ + σ ⊙ ε
    is a deterministic node; the randomness sits in ε, off the gradient path, and ∂L/∂μ, ∂L/∂σ exist."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, trick in zip(axes, (False, True)):
        enc = _box(ax, 0, 0, "encoder\n$\\phi$", w=1.1, h=1.0, color=ENC, label="encoder")
        mu = _box(ax, 1.9, 0.8, "$\\mu$", w=0.8, h=0.55, color=CODE, label="mu")
        sg = _box(ax, 1.9, -0.8, "$\\sigma$", w=0.8, h=0.55, color=CODE, label="sigma")
        if trick:
            z = _box(ax, 3.8, 0, "$z = \\mu + \\sigma \\odot \\epsilon$", w=1.5, h=0.75, color=CODE, label="z",
                     fontsize=9)
            eps = _node(ax, 3.8, 1.9, "$\\epsilon$", r=0.38, color=NOISE, label="epsilon")
            ax.text(4.3, 1.9, r"$\epsilon \sim \mathcal{N}(0, I)$", ha="left", va="center", fontsize=9)
            _arrow(ax, eps, z, "epsilon -> z", color="#b04040")
        else:
            z = _node(ax, 3.8, 0, "$z$", r=0.5, color=NOISE, label="z")
            ax.text(3.8, -0.85, r"$z \sim \mathcal{N}(\mu, \sigma^2)$", ha="center", va="center", fontsize=9)
        dec = _box(ax, 5.7, 0, "decoder\n$\\theta$", w=1.1, h=1.0, color=DEC, label="decoder")
        loss = _box(ax, 7.4, 0, "loss\n$L$", w=0.9, h=0.8, color="white", label="loss")
        _arrow(ax, enc, mu, "encoder -> mu")
        _arrow(ax, enc, sg, "encoder -> sigma")
        _arrow(ax, mu, z, "mu -> z")
        _arrow(ax, sg, z, "sigma -> z")
        _arrow(ax, z, dec, "z -> decoder")
        _arrow(ax, dec, loss, "decoder -> loss")
        # The backward pass, drawn under the graph: from the loss back to the encoder's outputs.
        _arrow(ax, (7.4, -1.7, 0.01, 0.01), (5.7, -1.7, 0.01, 0.01), "gradient: loss -> decoder", color=GRAD,
               ls="--")
        if trick:
            _arrow(ax, (5.7, -1.7, 0.01, 0.01), (3.8, -1.7, 0.01, 0.01), "gradient: decoder -> z", color=GRAD,
                   ls="--")
            _arrow(ax, (3.8, -1.7, 0.01, 0.01), (2.35, -1.2, 0.01, 0.01), "gradient: z -> sigma", color=GRAD,
                   ls="--")
            _arrow(ax, (3.8, -1.7, 0.01, 0.01), (2.35, 0.45, 0.01, 0.01), "gradient: z -> mu", color=GRAD,
                   ls="--", rad=0.35)
            ax.text(3.8, -2.35, r"$\partial L/\partial\mu = \partial L/\partial z$,  "
                    r"$\partial L/\partial\sigma = \partial L/\partial z \odot \epsilon$",
                    ha="center", fontsize=9, color=GRAD)
            title = "with the trick: the noise is an input, off the gradient path"
        else:
            ax.text(4.75, -1.7, "✕", ha="center", va="center", fontsize=16, color=GRAD)
            ax.text(3.8, -2.35, r"no gradient through a draw: $\partial z/\partial\mu$ undefined",
                    ha="center", fontsize=9, color=GRAD)
            title = "without: $z$ is a random node on the path"
        ax.text(7.4, -1.35, "backward", ha="center", fontsize=8, color=GRAD)
        ax.set_xlim(-0.7, 8.0)
        ax.set_ylim(-2.6, 2.5)
        _frame(ax, title)
    fig.tight_layout()
    return fig


def latent_ellipses(mu, sigma, labels, ae_codes=None, ae_labels=None, n_sigma: float = 1.0, max_points: int | None = 2000,
                    class_names: Sequence[str] = CLASSES, alpha: float = 0.12, seed: int = 0):
    """The k = 2 latent map as a VAE sees it: each posterior N(μ, diag σ²) drawn as its ``n_sigma``-ellipse,
    coloured by class — where the ellipses overlap, the decoder has been trained on codes of several images
    and decodes sensibly between them. With ``ae_codes`` a second panel shows an AE's codes as points
    (a point has no extent: nothing covers the gaps). Arrays: mu, sigma (N, 2), labels (N,), ae_codes
    (M, 2), ae_labels (M,) (default: ``labels`` when M = N). At most ``max_points`` of each (a seeded random subset) are drawn."""
    mu, sigma, labels = (_numpy(a) for a in (mu, sigma, labels))
    if mu.ndim != 2 or mu.shape[1] != 2 or sigma.shape != mu.shape or labels.shape != (len(mu),):
        raise ValueError(f"latent_ellipses needs mu and sigma of shape (N, 2) and labels (N,), got "
                         f"{mu.shape}, {sigma.shape}, {labels.shape}.")
    if (sigma <= 0).any() or not np.isfinite(sigma).all():
        raise ValueError("sigma must be positive and finite (a standard deviation, not a log-variance).")
    rng = np.random.default_rng(seed)
    keep = _subset(len(mu), max_points, rng)
    panels = 1 if ae_codes is None else 2
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 5.2), squeeze=False)
    ax = axes[0, 0]
    palette = plt.get_cmap("tab10")
    colors = np.array([palette(int(c) % 10) for c in labels[keep]])
    ells = EllipseCollection(2 * n_sigma * sigma[keep, 0], 2 * n_sigma * sigma[keep, 1], np.zeros(len(keep)),
                             units="xy", offsets=mu[keep], offset_transform=ax.transData, facecolors=colors,
                             edgecolors=colors, linewidths=0.3, alpha=alpha, label="posterior ellipses")
    ax.add_collection(ells)
    ax.scatter(mu[keep, 0], mu[keep, 1], s=1, c=colors, label="_means")
    pad = n_sigma * np.percentile(sigma[keep], 95, axis=0)
    lo, hi = mu[keep].min(0) - pad, mu[keep].max(0) + pad
    ax.update_datalim([lo, hi])
    ax.autoscale_view()
    ax.set_title(f"VAE: posteriors as {n_sigma:g}-σ ellipses")
    _legend(ax, np.unique(labels[keep]), class_names)
    if ae_codes is not None:
        ae_codes = _numpy(ae_codes)
        if ae_labels is None and len(ae_codes) == len(labels):
            ae_labels = labels
        ae_labels = None if ae_labels is None else _numpy(ae_labels)
        keep_ae = _subset(len(ae_codes), max_points, rng)
        ax2 = axes[0, 1]
        c2 = (np.array([palette(int(c) % 10) for c in ae_labels[keep_ae]]) if ae_labels is not None else "0.3")
        ax2.scatter(ae_codes[keep_ae, 0], ae_codes[keep_ae, 1], s=3, c=c2, label="AE codes")
        ax2.set_title("AE: codes are points")
    for a in axes.flat:
        a.set_xlabel("$z_1$")
        a.set_ylabel("$z_2$")
        a.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return fig


def _numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _subset(n, max_points, rng):
    if max_points is None or n <= max_points:
        return np.arange(n)
    return np.sort(rng.choice(n, size=max_points, replace=False))


def _legend(ax, classes, class_names):
    from matplotlib.lines import Line2D

    palette = plt.get_cmap("tab10")
    handles = [Line2D([], [], marker="o", ls="", color=palette(int(c) % 10), label=class_names[int(c)])
               for c in classes]
    ax.legend(handles=handles, fontsize=7, loc="best", frameon=True)


def graphical_models():
    """One step t of chapter 7's three sequence models as graphical models. Shaded: observed x_t; white:
    the latent z_t; squares: the deterministic GRU state h. Solid arrows: the generative model; dashed:
    the VRNNs' approximate posterior q(z_t | x_t, h_{t-1}).

    - RNN: x_t ~ p(x_t | h_{t-1}), h_t = GRU(x_t, h_{t-1}) — no latent;
    - VRNN-I: z_t ~ N(0, I), a fixed prior; x_t ~ p(x_t | z_t, h_{t-1}); h_t = GRU(x_t, z_t, h_{t-1});
    - VRNN: the same, with a learned sequential prior z_t ~ p(z_t | h_{t-1}) (the arrow h_{t-1} -> z_t).
    """
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for ax, kind in zip(axes, ("RNN", "VRNN-I", "VRNN")):
        h0 = _box(ax, 0, 0, "$h_{t-1}$", w=0.9, h=0.8, color="white", label="h_{t-1}", round_=False)
        h1 = _box(ax, 3.0, 0, "$h_t$", w=0.9, h=0.8, color="white", label="h_t", round_=False)
        x = _node(ax, 1.5, 1.6, "$x_t$", observed=True, label="x_t")
        _arrow(ax, h0, h1, "h_{t-1} -> h_t")
        _arrow(ax, h0, x, "h_{t-1} -> x_t")
        _arrow(ax, x, h1, "x_t -> h_t")
        if kind != "RNN":
            z = _node(ax, 1.5, -1.6, "$z_t$", label="z_t")
            _arrow(ax, z, x, "z_t -> x_t", rad=0.0)
            _arrow(ax, z, h1, "z_t -> h_t")
            _arrow(ax, x, z, "q: x_t -> z_t", ls="--", color="0.45", rad=0.45)
            _arrow(ax, h0, z, "q: h_{t-1} -> z_t" if kind == "VRNN-I" else "h_{t-1} -> z_t",
                   ls="--" if kind == "VRNN-I" else "-", color="0.45" if kind == "VRNN-I" else "0.2")
            prior = r"$z_t \sim \mathcal{N}(0, I)$" if kind == "VRNN-I" else r"$z_t \sim p(z_t \mid h_{t-1})$"
            ax.text(1.5, -2.45, prior, ha="center", fontsize=9)
        else:
            ax.text(1.5, -2.45, "no latent variable", ha="center", fontsize=9, color="0.3")
        ax.set_xlim(-0.7, 3.7)
        ax.set_ylim(-2.8, 2.3)
        _frame(ax, kind)
    fig.tight_layout()
    return fig


# A decision tree: questions in boxes, "yes" and "no" branches, a leaf (what to do) at each end.

QUESTION_BOX = dict(boxstyle="round,pad=0.45", fc="#e8eef7", ec="#4c72b0", lw=1.1)
LEAF_BOX = dict(boxstyle="round,pad=0.45,rounding_size=0.2", fc="#eef7e8", ec="#55a868", lw=1.1)
BRANCHES = ("yes", "no")


def _tree_nodes(tree, path=()):
    """The nodes of a decision tree in preorder, as (path, kind, text); raises ValueError on a bad node."""
    where = "the root" if not path else "the branch " + " → ".join(path)
    if isinstance(tree, str):
        if not tree.strip():
            raise ValueError(f"empty label: the leaf at {where} has no text")
        return [(path, "leaf", tree)]
    if not isinstance(tree, dict):
        raise ValueError(f"{where} is {type(tree).__name__} {tree!r}: a node must be a leaf (a non-empty string) "
                         "or a question (a dict with the keys 'question', 'yes' and 'no')")
    question = tree.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"empty label: the question at {where} has no text (its 'question' is {question!r})")
    missing = [b for b in BRANCHES if tree.get(b) is None]
    if missing:
        raise ValueError(f"the question {question!r} at {where} needs two branches, 'yes' and 'no'; "
                         f"it lacks {' and '.join(repr(m) for m in missing)}")
    extra = sorted(set(tree) - {"question", *BRANCHES})
    if extra:
        raise ValueError(f"the question {question!r} at {where} has keys other than 'question', 'yes' and 'no': "
                         f"{extra}")
    nodes = [(path, "question", question)]
    for branch in BRANCHES:
        nodes += _tree_nodes(tree[branch], path + (branch,))
    return nodes


def decision_tree(tree, ax=None, fontsize: float = 9, hgap: float = 46, vgap: float = 24,
                  margin: float = 6):
    """Draw a decision tree: each question a blue box, each leaf a green box (its lines left-aligned), an
    arrow labelled "yes" to the right and one labelled "no" downwards from every question.

    ``tree`` is a leaf — a non-empty string (new lines with ``\\n``) — or a question, a dict
    ``{"question": str, "yes": tree, "no": tree}``. The layout puts a question's "yes" branch to its right
    on the same row and its "no" branch below it, in the same column (columns are centred, as wide as their
    widest box); so a chain of questions whose "no" leads to the next reads down the left, each "yes"
    leading off to the right. Sizes (``fontsize``, the gaps ``hgap``, ``vgap``, ``margin``) are in points,
    and the axes' data unit is one point: the boxes never overlap, whatever their text.

    Each box is a ``Text`` with a bbox patch (gid ``"question"`` or ``"leaf"``, label its text on one
    line); each arrow an ``Annotation`` whose ends are given in the coordinates of its two boxes
    (``xycoords``/``textcoords`` are the box artists), shrunk by the boxes' padding so that it starts and
    ends on their outlines; the labels "yes" and "no" are texts beside the arrows. Without ``ax`` the figure
    is made to the diagram's size; a given ``ax`` must be large enough (ValueError otherwise).

    Returns ``(fig, boxes)``: ``boxes`` maps each node's path from the root (a tuple of "yes"/"no", the
    root ``()``) to its box, in preorder. Raises ValueError, naming the node, for a question without two
    branches or an empty label.
    """
    nodes = _tree_nodes(tree)
    kind = {path: k for path, k, _ in nodes}
    if ax is None:
        fig = plt.figure(figsize=(4, 3))
        ax = fig.add_axes((0, 0, 1, 1))
        own = True
    else:
        fig, own = ax.figure, False
    ax.set_axis_off()
    boxes, size = {}, {}
    renderer = fig.canvas.get_renderer() if hasattr(fig.canvas, "get_renderer") else fig._get_renderer()
    to_pt = 72 / fig.dpi
    for path, k, text in nodes:
        style = dict(QUESTION_BOX if k == "question" else LEAF_BOX)
        box = ax.text(0, 0, text, ha="center", va="center", fontsize=fontsize, bbox=style, gid=k,
                      multialignment="center" if k == "question" else "left",
                      label=text.replace("\n", " "), zorder=3)
        ext = box.get_window_extent(renderer)
        pad = float(style["boxstyle"].split("pad=")[1].split(",")[0]) * fontsize  # points: pad × font size
        size[path] = (ext.width * to_pt + 2 * pad, ext.height * to_pt + 2 * pad, pad)
        boxes[path] = box

    # Rows: a "yes" child shares its parent's row; a "no" child starts below the rows its sibling used.
    row, column_of = {}, {}

    def place(path, r, column):
        row[path], column_of[path] = r, column
        if kind[path] == "leaf":
            return 1
        used = place(path + ("yes",), r, path + ("yes",))  # a "yes" child starts a new column
        return used + place(path + ("no",), r + used, column)

    n_rows = place((), 0, ())
    columns = {}
    for path in boxes:
        columns.setdefault(column_of[path], []).append(path)
    col_width = {c: max(size[p][0] for p in members) for c, members in columns.items()}
    col_left = {(): 0.0}
    for path in boxes:  # preorder: a parent's column is placed before its "yes" child's
        if kind[path] == "question":
            child = path + ("yes",)
            col_left[child] = col_left[column_of[path]] + col_width[column_of[path]] + hgap
    row_height = [max(size[p][1] for p in boxes if row[p] == r) for r in range(n_rows)]
    row_top = np.concatenate([[0.0], -np.cumsum(np.asarray(row_height) + vgap)])
    centre = {}
    for path, box in boxes.items():
        c = column_of[path]
        centre[path] = (col_left[c] + col_width[c] / 2, row_top[row[path]] - row_height[row[path]] / 2)
        box.set_position(centre[path])
    width = max(col_left[c] + col_width[c] for c in columns)
    height = -row_top[-1] - vgap

    label_style = dict(fontsize=fontsize, color="0.3", style="italic", zorder=3)
    for path, k, _ in nodes:
        if k != "question":
            continue
        (px, py), (pw, ph, ppad) = centre[path], size[path]
        for branch in BRANCHES:
            child = path + (branch,)
            (cx, cy), (cw, ch, cpad) = centre[child], size[child]
            if branch == "yes":  # right edge, middle -> left edge, middle (the same row: the same height)
                start, end = (1, 0.5), (0, 0.5)
                ax.text((px + pw / 2 + cx - cw / 2) / 2, py + 2, "yes", ha="center", va="bottom", **label_style)
            else:  # bottom edge, middle -> top edge, middle (the same column: the same centre)
                start, end = (0.5, 0), (0.5, 1)
                ax.text(px + 4, (py - ph / 2 + cy + ch / 2) / 2, "no", ha="left", va="center", **label_style)
            ax.annotate("", xy=end, xycoords=boxes[child], xytext=start, textcoords=boxes[path],
                        arrowprops=dict(arrowstyle="-|>", color="0.35", lw=1.1, mutation_scale=11,
                                        shrinkA=ppad, shrinkB=cpad),
                        label=f"{boxes[path].get_label()} -> {boxes[child].get_label()}", zorder=2)

    total_w, total_h = width + 2 * margin, height + 2 * margin
    if own:
        fig.set_size_inches(total_w / 72, total_h / 72)
        ax.set_xlim(-margin, width + margin)
        ax.set_ylim(-height - margin, margin)
    else:  # one data unit = one point, the diagram centred in the axes
        bbox = ax.get_position()
        ax_w, ax_h = (bbox.width * fig.get_figwidth() * 72, bbox.height * fig.get_figheight() * 72)
        if ax_w < total_w or ax_h < total_h:
            raise ValueError(f"the axes ({ax_w / 72:.1f} × {ax_h / 72:.1f} in) are too small for the decision "
                             f"tree ({total_w / 72:.1f} × {total_h / 72:.1f} in)")
        ax.set_xlim(width / 2 - ax_w / 2, width / 2 + ax_w / 2)
        ax.set_ylim(-height / 2 - ax_h / 2, -height / 2 + ax_h / 2)
    return fig, boxes
