import math

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA as SkPCA

from aevae.pca import PPCA, fit_pca, principal_angles


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    scales = torch.linspace(3.0, 0.1, 12)
    return torch.randn(500, 12, generator=g, dtype=torch.float64) * scales + 2.0


def test_pca_matches_numpy_svd(data):
    pca = fit_pca(data)
    x = data.numpy()
    xc = x - x.mean(0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    np.testing.assert_allclose(pca.explained_variance.numpy(), s**2 / (len(x) - 1), rtol=1e-10)
    # same components up to sign
    np.testing.assert_allclose(np.abs(pca.components.numpy().T @ vt.T), np.eye(12), atol=1e-8)
    np.testing.assert_allclose(pca.components.numpy().T @ pca.components.numpy(), np.eye(12), atol=1e-10)


def test_pca_matches_sklearn_reconstruction(data):
    pca = fit_pca(data)
    for k in (1, 3, 7):
        sk = SkPCA(n_components=k).fit(data.numpy())
        rec = sk.inverse_transform(sk.transform(data.numpy()))
        np.testing.assert_allclose(pca.reconstruct(data, k).numpy(), rec, atol=1e-9)
        assert math.isclose(pca.mse(data, k), float(((rec - data.numpy()) ** 2).mean()), rel_tol=1e-9)
    np.testing.assert_allclose(pca.explained_variance_ratio()[:3].numpy(),
                               SkPCA(3).fit(data.numpy()).explained_variance_ratio_ * float(
                                   SkPCA().fit(data.numpy()).explained_variance_.sum() / pca.explained_variance.sum()),
                               rtol=1e-8)


def test_full_rank_reconstruction_is_exact(data):
    pca = fit_pca(data)
    assert pca.mse(data, 12) < 1e-20


def test_ppca_log_prob_matches_multivariate_normal(data):
    pca = fit_pca(data)
    model = PPCA(pca, k=4)
    cov = model.W @ model.W.T + model.sigma2 * torch.eye(12, dtype=torch.float64)
    ref = torch.distributions.MultivariateNormal(pca.mean.double(), covariance_matrix=cov)
    torch.testing.assert_close(model.log_prob(data[:50]), ref.log_prob(data[:50]), rtol=1e-9, atol=1e-9)
    # sigma^2 is the mean of the discarded eigenvalues
    assert math.isclose(model.sigma2, float(pca.explained_variance[4:].mean()), rel_tol=1e-12)


def test_ppca_samples_have_model_covariance(data):
    model = PPCA(fit_pca(data), k=3)
    s = model.sample(40000, generator=torch.Generator().manual_seed(1))
    cov = torch.cov(s.T)
    target = model.W @ model.W.T + model.sigma2 * torch.eye(12, dtype=torch.float64)
    assert torch.allclose(cov, target, atol=0.15)


def test_principal_angles():
    e = torch.eye(4, dtype=torch.float64)
    assert torch.allclose(principal_angles(e[:, :2], e[:, :2] @ torch.tensor([[2.0, 1.0], [0.5, 3.0]], dtype=torch.float64)),
                          torch.zeros(2, dtype=torch.float64), atol=1e-7)
    ang = principal_angles(e[:, :1], (e[:, 0:1] + e[:, 1:2]))
    assert math.isclose(float(ang[0]), math.pi / 4, rel_tol=1e-9)


def test_bad_arguments(data):
    pca = fit_pca(data)
    with pytest.raises(ValueError, match="k must be"):
        pca.transform(data, 0)
    with pytest.raises(ValueError, match="k must be"):
        pca.transform(data, 13)
    with pytest.raises(ValueError, match="2-D"):
        fit_pca(torch.zeros(10))
    with pytest.raises(ValueError, match="NaN"):
        fit_pca(torch.full((4, 3), float("nan")))
    with pytest.raises(ValueError, match="k < D"):
        PPCA(pca, 12)
