"""PCA by SVD, and probabilistic PCA (Tipping & Bishop, 1999) with its exact log-likelihood."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["PCA", "PPCA", "fit_pca", "principal_angles"]


def _check_2d(x: torch.Tensor, name: str = "x", dims: str = "(N, D)") -> None:
    """A finite 2-D tensor, else a ValueError naming ``name`` and its expected ``dims``."""
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D tensor {dims}; got {getattr(x, 'shape', type(x))}.")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values.")


@dataclass
class PCA:
    """A fitted PCA: ``mean`` (D,), ``components`` (D, R) orthonormal columns sorted by variance,
    ``explained_variance`` (R,) with the unbiased (N - 1) normaliser."""

    mean: torch.Tensor
    components: torch.Tensor
    explained_variance: torch.Tensor

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    def _check_k(self, k: int) -> None:
        if not isinstance(k, int) or not 1 <= k <= self.components.shape[1]:
            raise ValueError(f"k must be an int in [1, {self.components.shape[1]}], got {k!r}.")

    def transform(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Coordinates on the top-k components: (N, D) -> (N, k)."""
        self._check_k(k)
        return (x - self.mean) @ self.components[:, :k]

    def inverse_transform(self, z: torch.Tensor) -> torch.Tensor:
        """(N, k) -> (N, D)."""
        return z @ self.components[:, : z.shape[1]].T + self.mean

    def reconstruct(self, x: torch.Tensor, k: int) -> torch.Tensor:
        return self.inverse_transform(self.transform(x, k))

    def mse(self, x: torch.Tensor, k: int) -> float:
        """Mean squared reconstruction error per pixel."""
        return float(((self.reconstruct(x, k) - x) ** 2).mean())

    def explained_variance_ratio(self) -> torch.Tensor:
        return self.explained_variance / self.explained_variance.sum()


def fit_pca(x: torch.Tensor) -> PCA:
    """PCA of ``x`` (N, D) by the SVD of the centred data, computed in float64."""
    _check_2d(x)
    if x.shape[0] < 2:
        raise ValueError("PCA needs at least two rows.")
    x64 = x.double()
    mean = x64.mean(0)
    _, s, vh = torch.linalg.svd(x64 - mean, full_matrices=False)  # s: (R,), vh: (R, D)
    var = s**2 / (x.shape[0] - 1)
    # Fix the sign of each component (largest-magnitude entry positive) so results are reproducible.
    signs = torch.sign(vh[torch.arange(vh.shape[0]), vh.abs().argmax(1)])
    comps = (vh * signs[:, None]).T
    dtype = x.dtype
    return PCA(mean.to(dtype), comps.to(dtype), var.to(dtype))


@dataclass
class PPCA:
    """Probabilistic PCA: x = mean + W z + sigma * eps, z ~ N(0, I_k), eps ~ N(0, I_D).

    The maximum-likelihood solution (Tipping & Bishop, 1999) from a fitted PCA: sigma^2 is the mean
    of the discarded eigenvalues, W = U_k (Lambda_k - sigma^2 I)^{1/2}. The marginal is Gaussian,
    N(mean, W W^T + sigma^2 I), so the log-likelihood is exact.
    """

    pca: PCA
    k: int

    def __post_init__(self) -> None:
        self.pca._check_k(self.k)
        lam = self.pca.explained_variance.double()
        d = self.pca.dim
        if self.k >= d:
            raise ValueError(f"PPCA needs k < D = {d}.")
        # Eigenvalues beyond the rank of the data are zero: include them in the average.
        self.sigma2 = float(lam[self.k :].sum() / (d - self.k))
        if self.sigma2 <= 0:
            raise ValueError("PPCA noise variance is zero: the data lie in a k-dimensional subspace.")
        self.lam_k = lam[: self.k]
        self.U = self.pca.components[:, : self.k].double()

    @property
    def W(self) -> torch.Tensor:
        return self.U * (self.lam_k - self.sigma2).clamp_min(0).sqrt()

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-density of each row of ``x`` (N, D), in nats per image (a density over R^D)."""
        _check_2d(x)
        d = self.pca.dim
        xc = x.double() - self.pca.mean.double()
        proj = xc @ self.U  # (N, k)
        maha = (proj**2 / self.lam_k).sum(1) + ((xc**2).sum(1) - (proj**2).sum(1)) / self.sigma2
        logdet = torch.log(self.lam_k).sum() + (d - self.k) * math.log(self.sigma2)
        return -0.5 * (d * math.log(2 * math.pi) + logdet + maha)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws from the model, (n, D)."""
        z = torch.randn(n, self.k, generator=generator, dtype=torch.float64)
        eps = torch.randn(n, self.pca.dim, generator=generator, dtype=torch.float64)
        x = self.pca.mean.double() + z @ self.W.T + math.sqrt(self.sigma2) * eps
        return x.to(self.pca.mean.dtype)

    def mean_image(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draws without the isotropic pixel noise: mean + W z, (n, D) — what a 'decoded sample' is."""
        z = torch.randn(n, self.k, generator=generator, dtype=torch.float64)
        return (self.pca.mean.double() + z @ self.W.T).to(self.pca.mean.dtype)


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, ascending) between the column spaces of ``a`` (D, p) and ``b`` (D, q)."""
    qa, _ = torch.linalg.qr(a.double())
    qb, _ = torch.linalg.qr(b.double())
    s = torch.linalg.svdvals(qa.T @ qb).clamp(-1, 1)
    return torch.arccos(s)
