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

from . import checks
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


def _check_codes(z: torch.Tensor, name: str = "z", where: str = "latent", min_rows: int = 1) -> None:
    _check_2d(z, name, "(N, k)", where, min_rows)


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
        checks.integer(n, "n", "GaussianFit.sample")
        checks.generator(generator, "GaussianFit.sample")
        eps = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)  # (n, k)
        return (self.mean + eps @ self._cholesky().T).to(dtype)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Log-density of each row of ``z`` (N, k) -> (N,), float64."""
        _check_codes(z, where="GaussianFit.log_prob")
        if z.shape[1] != self.dim:
            checks.fail("GaussianFit.log_prob", "z", f"codes (N, {self.dim}) like the fitted ones",
                        checks.describe(z))
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
    _check_codes(z, where="fit_gaussian")
    if z.shape[0] < 2 or z.shape[1] < 1:
        checks.fail("fit_gaussian", "z", "(N, k) codes with N >= 2 and k >= 1", checks.describe(z),
                    "a covariance needs two codes or more")
    checks.number(jitter, "jitter", "fit_gaussian", minimum=0)
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
    checks.integer(n, "n", "standard_normal_codes")
    checks.integer(k, "k", "standard_normal_codes")
    checks.generator(generator, "standard_normal_codes")
    return torch.randn(n, k, generator=generator)


def cross_class_pairs(labels: torch.Tensor, n: int, generator: torch.Generator | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random index pairs (i, j) with ``labels[i] != labels[j]``, as two (n,) int64 tensors.

    i is drawn uniformly; j uniformly among the indices of a different class (drawn with replacement).
    """
    labels = torch.as_tensor(checks.labels(labels, "labels", "cross_class_pairs"))
    if labels.numel() < 2 or labels.unique().numel() < 2:
        checks.fail("cross_class_pairs", "labels", "a 1-D tensor with at least two classes",
                    f"{labels.unique().numel()} class(es) among {labels.numel()} labels")
    checks.integer(n, "n", "cross_class_pairs")
    checks.generator(generator, "cross_class_pairs")
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
    checks.tensor(za, "za", "interpolate", dims="(..., k)")
    checks.tensor(zb, "zb", "interpolate", dims="(..., k)")
    if za.shape != zb.shape:
        checks.fail("interpolate", "za and zb", "of the same shape", f"{tuple(za.shape)} vs {tuple(zb.shape)}",
                    "za and zb differ in shape: pass codes of the same model")
    if za.dtype != zb.dtype:
        checks.fail("interpolate", "za and zb", "of the same dtype", f"{za.dtype} and {zb.dtype}", kind=TypeError)
    if not isinstance(t, torch.Tensor):
        t = checks.array(t, "t", "interpolate", ndim=None, dims="a number or (T,)")
    t = torch.as_tensor(t, dtype=za.dtype, device=za.device)
    checks.finite(t, "t", "interpolate")
    if t.ndim == 0:
        return (1 - t) * za + t * zb
    if t.ndim != 1:
        checks.fail("interpolate", "t", "a number or a 1-D tensor (T,)", checks.describe(t))
    t = t.reshape(-1, *([1] * za.ndim))  # (T, 1, ..., 1)
    return (1 - t) * za + t * zb  # (T, ..., k)


def cross_class_midpoints(z: torch.Tensor, labels: torch.Tensor, n: int,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """Midpoints (z_i + z_j) / 2 of ``n`` random pairs of codes whose labels differ, (n, k)."""
    _check_codes(z, where="cross_class_midpoints")
    labels = checks.labels(labels, "labels", "cross_class_midpoints")
    checks.same_rows(z, labels, "z and labels", "cross_class_midpoints", "pass one label per code, in the same order")
    i, j = cross_class_pairs(labels, n, generator)
    return interpolate(z[i], z[j], 0.5)


def add_noise(x: torch.Tensor, std: float, generator: torch.Generator | None = None,
              clip: bool = True) -> torch.Tensor:
    """x + std * eps, eps ~ N(0, I), clipped to [0, 1] (images stay images) unless ``clip=False``."""
    checks.number(std, "std", "add_noise", minimum=0)
    checks.tensor(x, "x", "add_noise", dims="(B, D)")
    checks.generator(generator, "add_noise")
    eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    noisy = x + std * eps
    return noisy.clamp(0, 1) if clip else noisy


def denoising_loss(std: float, clip: bool = True):
    """The denoising-AE objective (Vincent et al. 2008) as a ``loss_fn(model, x, generator)`` for
    :func:`aevae.train.fit`: corrupt the batch with :func:`add_noise`, reconstruct, and score the
    reconstruction against the *clean* batch — MSE per pixel, mean over the batch (as ``ae_loss``).
    """
    checks.number(std, "std", "denoising_loss", minimum=0)

    def loss_fn(model, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = checks.model_input(model, x, "denoising_loss", strict=False)  # image batches flattened to (B, D)
        noisy = add_noise(x, std, generator, clip)  # (B, D)
        x_hat = model(noisy).x_hat  # (B, D)
        return ((x_hat - x) ** 2).mean(-1).mean()

    return loss_fn
