"""Figures the chapters share: image grids and latent maps."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .data import CLASSES

__all__ = ["image_grid", "show_images", "latent_scatter", "image_rows", "principal_directions",
           "cumulative_variance", "curves"]


def _as_images(images, side: int | None = None) -> np.ndarray:
    arr = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if arr.ndim == 2:  # (N, D) flat
        side = side or int(round(np.sqrt(arr.shape[1])))
        if side * side != arr.shape[1]:
            raise ValueError(f"Cannot reshape images of {arr.shape[1]} pixels to a square; pass side=.")
        arr = arr.reshape(-1, side, side)
    if arr.ndim != 3:
        raise ValueError(f"images must be (N, D) or (N, H, W), got shape {arr.shape}.")
    return arr


def image_grid(images, nrow: int = 8, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Tile (N, D) or (N, H, W) images into one 2-D array, ``nrow`` images per row."""
    arr = _as_images(images)
    n, h, w = arr.shape
    ncol = nrow
    nrows = int(np.ceil(n / ncol))
    grid = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad), pad_value, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, ncol)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = arr[i]
    return grid


def show_images(images, nrow: int = 8, title: str | None = None, ax=None, vmin=0.0, vmax=1.0, cmap="gray_r"):
    """Draw an image grid on ``ax`` (a new figure if None) and return the axes."""
    if ax is None:
        n = len(images)
        rows = int(np.ceil(n / nrow))
        _, ax = plt.subplots(figsize=(min(1.0 * nrow, 12), min(1.0 * rows, 12) + (0.4 if title else 0)))
    ax.imshow(image_grid(images, nrow=nrow, pad_value=vmin),
              cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def image_rows(rows: Sequence, labels: Sequence[str], nrow: int | None = None, cmap="gray_r"):
    """One labelled row of images per entry of ``rows`` (e.g. originals, then reconstructions)."""
    nrow = nrow or len(rows[0])
    fig, axes = plt.subplots(len(rows), 1, figsize=(min(1.0 * nrow, 12), 1.1 * len(rows)), squeeze=False)
    for ax, imgs, label in zip(axes[:, 0], rows, labels):
        show_images(imgs, nrow=nrow, ax=ax, cmap=cmap)
        ax.set_axis_on()
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def latent_scatter(z, labels, ax=None, title: str | None = None, s: float = 2.0, alpha: float = 0.6,
                   class_names: Sequence[str] = CLASSES):
    """A 2-D latent map coloured by class."""
    z = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
    labels = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"latent_scatter needs 2-D codes (N, 2), got shape {z.shape}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    palette = plt.get_cmap("tab10")
    for c in np.unique(labels):
        m = labels == c
        ax.scatter(z[m, 0], z[m, 1], s=s, alpha=alpha, color=palette(int(c) % 10), label=class_names[int(c)],
                   rasterized=True)
    ax.legend(markerscale=4, fontsize=7, loc="best", frameon=True)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return ax


def principal_directions(mean, components, n: int = 15, side: int = 28):
    """The mean image and the first ``n`` principal directions (columns of ``components``, (D, >=n)) as
    images: positive weights red, negative blue, each on its own symmetric scale. Returns the figure."""
    mean, components = (_numpy(a) for a in (mean, components))
    cols = int(np.ceil((n + 1) / 2))
    fig, axes = plt.subplots(2, cols, figsize=(1.4 * cols, 3.2))
    axes.flat[0].imshow(mean.reshape(side, side), cmap="gray_r")
    axes.flat[0].set_title("mean")
    for i, ax in enumerate(axes.flat[1:n + 1]):
        comp = components[:, i].reshape(side, side)
        lim = float(np.abs(comp).max())
        ax.imshow(comp, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"PC {i + 1}")
    for ax in axes.flat:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def cumulative_variance(cum, marks: Sequence[int] = (2, 16, 32), level: float = 0.9, ax=None):
    """The cumulative explained-variance curve (``cum[k-1]`` for k = 1..D) on a log k axis, with the
    values at ``marks`` annotated and a dashed line at ``level``. Returns the axes."""
    cum = _numpy(cum)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(np.arange(1, len(cum) + 1), cum, color="C0")
    for k in marks:
        ax.plot(k, cum[k - 1], "o", color="C3")
        ax.annotate(f"k={k}: {100 * cum[k - 1]:.1f}%", (k, float(cum[k - 1])), textcoords="offset points",
                    xytext=(8, -12))
    ax.axhline(level, ls="--", color="gray", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("number of components k")
    ax.set_ylabel("cumulative explained variance")
    ax.set_ylim(0, 1.01)
    return ax


def curves(x, series: dict, xlabel: str, ylabel: str, logx=None, logy: bool = False, style: str = "o-",
           hline: tuple | None = None, ax=None, **plot_kwargs):
    """Several curves over the same ``x`` (``series``: legend label -> y values, or -> (x, y) for a curve
    with its own x), optional log axes (``logx``: None, True or a base) and a dashed reference line
    ``hline = (y, label)``. Returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, ys in series.items():
        xs, ys = ys if isinstance(ys, tuple) else (x, ys)
        ax.plot(_numpy(xs), _numpy(ys), style, label=label, **plot_kwargs)
    if hline is not None:
        ax.axhline(float(hline[0]), ls="--", color="gray", lw=1, label=hline[1])
    if logx:
        ax.set_xscale("log", **({} if logx is True else {"base": logx}))
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def _numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
