"""Figures the chapters share: image grids and latent maps."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .data import CLASSES

__all__ = ["image_grid", "show_images", "latent_scatter", "image_rows"]


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
