import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal

from aevae.latent import (
    add_noise,
    cross_class_midpoints,
    cross_class_pairs,
    denoising_loss,
    fit_gaussian,
    interpolate,
    standard_normal_codes,
)
from aevae.models import Autoencoder, NetConfig
from aevae.objectives import ae_loss
from aevae.train import TrainConfig, fit


def _codes(n=4000, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.tensor([[2.0, 0.0, 0.0], [0.8, 0.5, 0.0], [-0.3, 0.2, 0.1]])
    return torch.randn(n, 3, generator=g) @ a.T + torch.tensor([1.0, -2.0, 0.5])


def test_fit_gaussian_matches_numpy_moments_and_torch_log_prob():
    z = _codes()
    fit = fit_gaussian(z, jitter=0.0)
    np.testing.assert_allclose(fit.mean.numpy(), z.double().numpy().mean(0), rtol=1e-10)
    np.testing.assert_allclose(fit.cov.numpy(), np.cov(z.double().numpy(), rowvar=False, bias=True), rtol=1e-10)
    ref = MultivariateNormal(fit.mean, covariance_matrix=fit.cov).log_prob(z.double())
    torch.testing.assert_close(fit.log_prob(z), ref, rtol=1e-10, atol=1e-10)


def test_fit_gaussian_diagonal_and_degenerate_codes():
    z = _codes()
    diag = fit_gaussian(z, diagonal=True, jitter=0.0)
    assert torch.count_nonzero(diag.cov - torch.diag(torch.diagonal(diag.cov))) == 0
    np.testing.assert_allclose(torch.diagonal(diag.cov).numpy(), z.double().numpy().var(0), rtol=1e-10)
    flat = torch.cat([z[:, :2], z[:, :1] * 2], 1)  # rank 2: the jitter keeps it factorable
    assert torch.isfinite(fit_gaussian(flat).sample(10, torch.Generator().manual_seed(0))).all()
    with pytest.raises(ValueError, match="2-D"):
        fit_gaussian(z[:, 0])
    with pytest.raises(ValueError, match="NaN"):
        fit_gaussian(torch.full((5, 2), float("nan")))


def test_gaussian_samples_reproduce_the_fit_and_are_seeded():
    fit = fit_gaussian(_codes())
    s = fit.sample(100000, torch.Generator().manual_seed(1))
    assert s.shape == (100000, 3) and s.dtype == torch.float32
    np.testing.assert_allclose(s.double().mean(0).numpy(), fit.mean.numpy(), atol=0.03)
    np.testing.assert_allclose(np.cov(s.double().numpy(), rowvar=False), fit.cov.numpy(), rtol=0.03, atol=0.01)
    again = fit.sample(100000, torch.Generator().manual_seed(1))
    assert torch.equal(s, again)


def test_standard_normal_codes():
    z = standard_normal_codes(50000, 4, torch.Generator().manual_seed(0))
    assert z.shape == (50000, 4)
    assert abs(float(z.mean())) < 0.02 and abs(float(z.std()) - 1) < 0.02
    with pytest.raises(ValueError):
        standard_normal_codes(0, 4)


def test_cross_class_pairs_differ_in_class_and_cover_every_index():
    labels = torch.arange(10).repeat(30)  # 300 labels, 10 classes
    i, j = cross_class_pairs(labels, 5000, torch.Generator().manual_seed(0))
    assert i.shape == j.shape == (5000,)
    assert (labels[i] != labels[j]).all()
    assert i.unique().numel() == 300  # uniform draws: every index appears
    i2, j2 = cross_class_pairs(labels, 5000, torch.Generator().manual_seed(0))
    assert torch.equal(i, i2) and torch.equal(j, j2)
    with pytest.raises(ValueError, match="two classes"):
        cross_class_pairs(torch.zeros(5, dtype=torch.long), 3)


def test_interpolate_and_midpoints():
    za, zb = torch.zeros(4, 2), torch.ones(4, 2) * 2
    torch.testing.assert_close(interpolate(za, zb, 0.25), torch.full((4, 2), 0.5))
    path = interpolate(za, zb, torch.linspace(0, 1, 5))
    assert path.shape == (5, 4, 2)
    torch.testing.assert_close(path[0], za)
    torch.testing.assert_close(path[-1], zb)
    torch.testing.assert_close(path[2], (za + zb) / 2)
    z = torch.randn(100, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(100) % 4
    mids = cross_class_midpoints(z, labels, 50, torch.Generator().manual_seed(3))
    i, j = cross_class_pairs(labels, 50, torch.Generator().manual_seed(3))
    torch.testing.assert_close(mids, (z[i] + z[j]) / 2)


def test_add_noise_statistics_and_clipping():
    x = torch.full((2000, 100), 0.5)
    g = torch.Generator().manual_seed(0)
    noisy = add_noise(x, 0.1, g)
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert abs(float((noisy - x).std()) - 0.1) < 0.002
    raw = add_noise(x, 1.0, torch.Generator().manual_seed(0), clip=False)
    assert raw.min() < 0 and raw.max() > 1
    clipped = add_noise(x, 1.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(clipped, raw.clamp(0, 1))
    assert torch.equal(add_noise(x, 0.0), x)


def test_denoising_loss_scores_against_the_clean_batch():
    class Identity(torch.nn.Module):
        def forward(self, x):
            return type("Out", (), {"x_hat": x})()

    x = torch.full((500, 200), 0.5)
    loss = denoising_loss(0.1)(Identity(), x, torch.Generator().manual_seed(0))
    # an identity "AE" passes the noise through: its loss is the noise variance (clipping at 5 sigma: none)
    assert float(loss) == pytest.approx(0.01, rel=0.02)
    assert float(denoising_loss(0.0)(Identity(), x, None)) == 0.0


def test_denoising_loss_trains_an_autoencoder():
    cfg = NetConfig(input_dim=10, hidden=(16,), latent_dim=3)
    x = torch.rand(256, 10, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = Autoencoder(cfg)
    hist = fit(model, denoising_loss(0.3), x, TrainConfig(epochs=5, batch_size=32, seed=0))
    assert hist.loss[-1] < hist.loss[0]
    assert float(ae_loss(model, x).detach()) < 0.2
