"""PCA by SVD, and probabilistic PCA (Tipping & Bishop, 1999) with its exact log-likelihood."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import checks

__all__ = ["PCA", "PPCA", "fit_pca", "principal_angles"]


def _check_2d(x: torch.Tensor, name: str = "x", dims: str = "(N, D)", where: str = "fit_pca",
              min_rows: int = 2) -> None:
    """A finite floating-point 2-D tensor with at least ``min_rows`` rows, else an error naming ``name`` and
    its expected ``dims``. (The defaults are :func:`fit_pca`'s.)"""
    checks.tensor(x, name, where, ndim=2, dims=dims, check_finite=False,
                  fix="flatten images with x.reshape(len(x), -1)" if dims == "(N, D)" else "")
    if x.shape[0] < min_rows or x.shape[1] < 1:
        checks.fail(where, name, f"{dims} with at least {min_rows} row(s) and one column", checks.describe(x))
    checks.finite(x, name, where, f"{name} holds NaN or infinite values: remove those rows or replace the values")


def _check_rows(x: torch.Tensor, pca: "PCA", name: str, where: str) -> None:
    """x (N, D) for a PCA fitted on D-dimensional rows, with the PCA's dtype."""
    _check_2d(x, name, f"(N, {pca.dim})", where, min_rows=1)
    if x.shape[1] != pca.dim:
        checks.fail(where, name, f"rows of {pca.dim} values like the data the PCA was fitted on",
                    checks.describe(x), "flatten images with x.reshape(len(x), -1)")
    if x.dtype != pca.mean.dtype:
        checks.fail(where, name, f"a {pca.mean.dtype} tensor like the data the PCA was fitted on",
                    checks.describe(x), f"{name}.to({pca.mean.dtype})", TypeError)


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
        checks.integer(k, "k", "PCA", maximum=self.components.shape[1],
                       fix=f"k must be an int in [1, {self.components.shape[1]}], the number of components")

    def transform(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Coordinates on the top-k components: (N, D) -> (N, k)."""
        self._check_k(k)
        _check_rows(x, self, "x", "PCA.transform")
        return (x - self.mean) @ self.components[:, :k]

    def inverse_transform(self, z: torch.Tensor) -> torch.Tensor:
        """(N, k) -> (N, D)."""
        _check_2d(z, "z", "(N, k)", "PCA.inverse_transform", min_rows=1)
        if z.dtype != self.components.dtype:
            checks.fail("PCA.inverse_transform", "z", f"a {self.components.dtype} tensor", checks.describe(z),
                        f"z.to({self.components.dtype})", TypeError)
        if not 1 <= z.shape[1] <= self.components.shape[1]:
            checks.fail("PCA.inverse_transform", "z", f"coordinates (N, k) with 1 <= k <= {self.components.shape[1]}",
                        checks.describe(z), "pass the output of PCA.transform")
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
        if not isinstance(self.pca, PCA):
            checks.fail("PPCA", "pca", "a fitted PCA (fit_pca(x))", checks.describe(self.pca), kind=TypeError)
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
        _check_rows(x, self.pca, "x", "PPCA.log_prob")
        d = self.pca.dim
        xc = x.double() - self.pca.mean.double()
        proj = xc @ self.U  # (N, k)
        maha = (proj**2 / self.lam_k).sum(1) + ((xc**2).sum(1) - (proj**2).sum(1)) / self.sigma2
        logdet = torch.log(self.lam_k).sum() + (d - self.k) * math.log(self.sigma2)
        return -0.5 * (d * math.log(2 * math.pi) + logdet + maha)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws from the model, (n, D)."""
        checks.integer(n, "n", "PPCA.sample")
        checks.generator(generator, "PPCA.sample")
        z = torch.randn(n, self.k, generator=generator, dtype=torch.float64)
        eps = torch.randn(n, self.pca.dim, generator=generator, dtype=torch.float64)
        x = self.pca.mean.double() + z @ self.W.T + math.sqrt(self.sigma2) * eps
        return x.to(self.pca.mean.dtype)

    def mean_image(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draws without the isotropic pixel noise: mean + W z, (n, D) — what a 'decoded sample' is."""
        checks.integer(n, "n", "PPCA.mean_image")
        checks.generator(generator, "PPCA.mean_image")
        z = torch.randn(n, self.k, generator=generator, dtype=torch.float64)
        return (self.pca.mean.double() + z @ self.W.T).to(self.pca.mean.dtype)


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, ascending) between the column spaces of ``a`` (D, p) and ``b`` (D, q)."""
    _check_2d(a, "a", "(D, p)", "principal_angles", min_rows=1)
    _check_2d(b, "b", "(D, q)", "principal_angles", min_rows=1)
    checks.same_rows(a, b, "a and b", "principal_angles", "both hold directions in the same D-dimensional space")
    if min(a.shape) < 1 or min(b.shape) < 1:
        checks.fail("principal_angles", "a and b", "non-empty (D, p) and (D, q)", f"{tuple(a.shape)} and {tuple(b.shape)}")
    qa, _ = torch.linalg.qr(a.double())
    qb, _ = torch.linalg.qr(b.double())
    s = torch.linalg.svdvals(qa.T @ qb).clamp(-1, 1)
    return torch.arccos(s)
