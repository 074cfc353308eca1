"""aevae.knob against references: torch's BCE and the RAE's formula, scikit-learn's mixture density,
and decoders whose path measures are known exactly."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aevae.config import book_net
from aevae.knob import (MixtureFit, codes, decode_mean, fit_mixture, off_data_fraction, path_evenness,
                        rae_loss)
from aevae.models import VAE, Autoencoder, NetConfig


def test_rae_loss_matches_its_formula():
    torch.manual_seed(0)
    model = Autoencoder(NetConfig(input_dim=12, hidden=(8,), latent_dim=3))
    x = torch.rand(5, 12).bernoulli()
    z = model.encode(x)
    rec = F.binary_cross_entropy_with_logits(model.decoder(z), x, reduction="sum") / 5  # mean over the batch
    code = 0.5 * (z**2).sum() / 5
    weights = sum((m.weight**2).sum() for m in model.decoder.modules() if isinstance(m, torch.nn.Linear))
    expected = rec + 0.7 * code + 0.01 * weights
    assert torch.allclose(rae_loss(model, x, code_weight=0.7, decoder_l2=0.01), expected, rtol=1e-5)
    assert torch.allclose(rae_loss(model, x, code_weight=0.0, decoder_l2=0.0), rec, rtol=1e-5)


def test_rae_loss_rejects_bad_weights():
    model = Autoencoder(NetConfig(input_dim=12, hidden=(8,), latent_dim=3))
    with pytest.raises(ValueError, match="decoder_l2"):
        rae_loss(model, torch.zeros(2, 12), decoder_l2=-1.0)
    with pytest.raises(TypeError, match="code_weight"):
        rae_loss(model, torch.zeros(2, 12), code_weight="1")


def _two_clusters(n=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, 2, generator=g) * 0.3 + torch.tensor([3.0, 0.0])
    b = torch.randn(n, 2, generator=g) * 0.5 + torch.tensor([-3.0, 1.0])
    return torch.cat([a, b])[torch.randperm(2 * n, generator=g)]


def test_mixture_log_prob_matches_sklearn():
    from sklearn.mixture import GaussianMixture

    z = _two_clusters()
    gm = GaussianMixture(3, covariance_type="full", random_state=0).fit(z.double().numpy())
    fit = MixtureFit(torch.from_numpy(gm.weights_), torch.from_numpy(gm.means_), torch.from_numpy(gm.covariances_))
    q = torch.randn(50, 2, dtype=torch.float64) * 3
    assert np.allclose(fit.log_prob(q).numpy(), gm.score_samples(q.numpy()), rtol=1e-8, atol=1e-8)


def test_mixture_sample_moments_and_reproducibility():
    fit = MixtureFit(torch.tensor([0.25, 0.75], dtype=torch.float64),
                     torch.tensor([[-2.0, 0.0], [2.0, 1.0]], dtype=torch.float64),
                     torch.stack([torch.eye(2, dtype=torch.float64) * 0.1, torch.eye(2, dtype=torch.float64) * 0.4]))
    z = fit.sample(40000, torch.Generator().manual_seed(1))
    assert z.dtype == torch.float32 and z.shape == (40000, 2)
    assert abs(float((z[:, 0] > 0).float().mean()) - 0.75) < 0.01  # the weights
    assert torch.allclose(z.mean(0), torch.tensor([1.0, 0.75]), atol=0.03)  # 0.25 * mean_1 + 0.75 * mean_2
    again = fit.sample(40000, torch.Generator().manual_seed(1))
    assert torch.equal(z, again)


def test_fit_mixture_chooses_components_by_held_out_likelihood():
    z = _two_clusters()
    sel = fit_mixture(z[:3000], z[3000:], components=(1, 2, 4))
    assert set(sel.val_log_lik) == {1, 2, 4}
    assert sel.val_log_lik[2] > sel.val_log_lik[1] + 0.5  # two clusters: one Gaussian is far worse
    assert sel.best.n_components == max(sel.val_log_lik, key=sel.val_log_lik.get)
    one = torch.randn(3000, 2, generator=torch.Generator().manual_seed(3))
    assert fit_mixture(one[:2000], one[2000:], components=(1, 8)).best.n_components == 1  # no overfitting


def test_fit_mixture_rejects_mismatched_codes():
    with pytest.raises(ValueError, match="z_val"):
        fit_mixture(torch.randn(100, 3), torch.randn(50, 4))
    with pytest.raises(ValueError, match="z_fit"):
        fit_mixture(torch.full((100, 3), float("nan")), torch.randn(50, 3))


def test_path_evenness_on_known_decoders():
    za, zb = torch.zeros(4, 2), torch.tensor([[1.0, 0], [0, 1], [2, 2], [-1, 3]])
    linear = path_evenness(lambda z: z @ torch.tensor([[1.0, 2, 0], [0, 1, 1]]), za, zb, steps=8)
    assert torch.allclose(linear["largest_step"], torch.full((4,), 1 / 8))  # even steps
    assert torch.allclose(linear["detour"], torch.ones(4))  # a straight line in image space
    jump = path_evenness(lambda z: (z.sum(1, keepdim=True) > 0.5).float().repeat(1, 3), za, zb, steps=8)
    assert torch.allclose(jump["largest_step"], torch.ones(4))  # all the change in one step


def test_off_data_fraction():
    g = torch.Generator().manual_seed(0)
    ref, calib, like = (torch.randn(n, 3, generator=g) for n in (4000, 2000, 2000))
    near = off_data_fraction(ref, like, calib, quantile=0.95)
    assert 0.02 < near < 0.09  # codes like the data's: about 1 - quantile
    assert off_data_fraction(ref, like + 10, calib) == 1.0  # far from every training code
    assert off_data_fraction(ref * 5, like * 5, calib * 5, quantile=0.95) == pytest.approx(near)  # scale-free


def test_codes_and_decode_mean_for_both_models():
    torch.manual_seed(0)
    x = torch.rand(7, 784)
    ae, vae = Autoencoder(book_net(3)), VAE(book_net(3))
    assert torch.equal(codes(ae, x), ae.encode(x))
    assert torch.equal(codes(vae, x), vae.encode(x)[0])  # the posterior mean
    z = torch.randn(7, 3)
    assert torch.allclose(decode_mean(vae, z), torch.sigmoid(vae.decode(z)))
    assert torch.allclose(decode_mean(ae, z), ae.decode(z))
