"""Latent-space helpers shared by chapters 3 and 4: where to draw codes from, and how to corrupt inputs.

- :func:`fit_gaussian` fits a Gaussian (full or diagonal covariance) to a set of codes; its
  :meth:`GaussianFit.sample` is the "best Gaussian guess" of where a plain AE's codes live.
- :func:`standard_normal_codes` draws from N(0, I_k), the VAE's prior, used on an AE for comparison.
- :func:`cross_class_pairs`, :func:`interpolate` and :func:`cross_class_midpoints`: points on the
  straight line between the codes of two images of *different* classes.
- :func:`add_noise` and :func:`denoising_loss`: additive Gaussian pixel noise, clipped to [0, 1], and
  the denoising-autoencoder objective (noisy in, clean out; Vincent et al. 2008).

Shapes: N = number of codes, k = latent dimension, B = batch, D = data dimension.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .pca import _check_2d

__all__ = [
    "GaussianFit",
    "fit_gaussian",
    "standard_normal_codes",
    "cross_class_pairs",
    "interpolate",
    "cross_class_midpoints",
    "add_noise",
    "denoising_loss",
]


def _check_codes(z: torch.Tensor, name: str = "z") -> None:
    _check_2d(z, name, "(N, k)")


@dataclass
class GaussianFit:
    """N(mean, cov) fitted to codes: ``mean`` (k,), ``cov`` (k, k), both float64."""

    mean: torch.Tensor
    cov: torch.Tensor

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    def _cholesky(self) -> torch.Tensor:
        return torch.linalg.cholesky(self.cov)  # (k, k) lower triangular

    def sample(self, n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> torch.Tensor:
        """``n`` draws, (n, k): mean + L eps with cov = L L^T, eps ~ N(0, I)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}.")
        eps = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)  # (n, k)
        return (self.mean + eps @ self._cholesky().T).to(dtype)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Log-density of each row of ``z`` (N, k) -> (N,), float64."""
        _check_codes(z)
        diff = z.double() - self.mean  # (N, k)
        chol = self._cholesky()
        sol = torch.linalg.solve_triangular(chol, diff.T, upper=False)  # (k, N) = L^{-1} (z - mean)
        maha = (sol**2).sum(0)  # (N,)
        logdet = 2 * torch.log(torch.diagonal(chol)).sum()
        return -0.5 * (self.dim * math.log(2 * math.pi) + logdet + maha)


def fit_gaussian(z: torch.Tensor, diagonal: bool = False, jitter: float = 1e-6) -> GaussianFit:
    """Maximum-likelihood Gaussian of codes ``z`` (N, k) (covariance with the 1/N normaliser).

    ``diagonal=True`` keeps only the per-dimension variances. ``jitter`` times the mean variance is
    added to the diagonal so that the Cholesky factor exists even for degenerate codes.
    """
    _check_codes(z)
    if z.shape[0] < 2:
        raise ValueError("fit_gaussian needs at least two codes.")
    z64 = z.double()
    mean = z64.mean(0)  # (k,)
    zc = z64 - mean
    cov = zc.T @ zc / z.shape[0]  # (k, k)
    if diagonal:
        cov = torch.diag(torch.diagonal(cov))
    cov = cov + jitter * float(torch.diagonal(cov).mean()) * torch.eye(z.shape[1], dtype=torch.float64)
    return GaussianFit(mean, cov)


def standard_normal_codes(n: int, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` draws from N(0, I_k), (n, k) float32 — the VAE's prior, here used on any decoder."""
    if not isinstance(n, int) or n < 1 or not isinstance(k, int) or k < 1:
        raise ValueError(f"n and k must be positive ints, got {n!r} and {k!r}.")
    return torch.randn(n, k, generator=generator)


def cross_class_pairs(labels: torch.Tensor, n: int, generator: torch.Generator | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random index pairs (i, j) with ``labels[i] != labels[j]``, as two (n,) int64 tensors.

    i is drawn uniformly; j uniformly among the indices of a different class (drawn with replacement).
    """
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.numel() < 2:
        raise ValueError("labels must be a 1-D tensor with at least two entries.")
    if labels.unique().numel() < 2:
        raise ValueError("cross_class_pairs needs at least two classes.")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}.")
    m = labels.numel()
    i = torch.randint(m, (n,), generator=generator)
    j = torch.randint(m, (n,), generator=generator)
    same = labels[i] == labels[j]
    while same.any():  # redraw the partners that share their class (a tenth of them for 10 classes)
        j[same] = torch.randint(m, (int(same.sum()),), generator=generator)
        same = labels[i] == labels[j]
    return i, j


def interpolate(za: torch.Tensor, zb: torch.Tensor, t) -> torch.Tensor:
    """Points (1 - t) za + t zb on the segment between codes.

    ``za``, ``zb``: (..., k). ``t``: a number -> (..., k); a 1-D tensor of T values -> (T, ..., k).
    """
    if za.shape != zb.shape:
        raise ValueError(f"za and zb differ in shape: {tuple(za.shape)} vs {tuple(zb.shape)}.")
    t = torch.as_tensor(t, dtype=za.dtype, device=za.device)
    if t.ndim == 0:
        return (1 - t) * za + t * zb
    if t.ndim != 1:
        raise ValueError("t must be a number or a 1-D tensor.")
    t = t.reshape(-1, *([1] * za.ndim))  # (T, 1, ..., 1)
    return (1 - t) * za + t * zb  # (T, ..., k)


def cross_class_midpoints(z: torch.Tensor, labels: torch.Tensor, n: int,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """Midpoints (z_i + z_j) / 2 of ``n`` random pairs of codes whose labels differ, (n, k)."""
    _check_codes(z)
    if z.shape[0] != torch.as_tensor(labels).shape[0]:
        raise ValueError("z and labels differ in length.")
    i, j = cross_class_pairs(labels, n, generator)
    return interpolate(z[i], z[j], 0.5)


def add_noise(x: torch.Tensor, std: float, generator: torch.Generator | None = None,
              clip: bool = True) -> torch.Tensor:
    """x + std * eps, eps ~ N(0, I), clipped to [0, 1] (images stay images) unless ``clip=False``."""
    if not std >= 0:
        raise ValueError(f"std must be >= 0, got {std!r}.")
    eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    noisy = x + std * eps
    return noisy.clamp(0, 1) if clip else noisy


def denoising_loss(std: float, clip: bool = True):
    """The denoising-AE objective (Vincent et al. 2008) as a ``loss_fn(model, x, generator)`` for
    :func:`aevae.train.fit`: corrupt the batch with :func:`add_noise`, reconstruct, and score the
    reconstruction against the *clean* batch — MSE per pixel, mean over the batch (as ``ae_loss``).
    """
    if not std >= 0:
        raise ValueError(f"std must be >= 0, got {std!r}.")

    def loss_fn(model, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        noisy = add_noise(x, std, generator, clip)  # (B, D)
        x_hat = model(noisy).x_hat  # (B, D)
        return ((x_hat - x) ** 2).mean(-1).mean()

    return loss_fn
