import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from aevae.models import VAE, Autoencoder, GaussianEncoder, NetConfig, StandardNormalPrior, reparameterize
from aevae.objectives import (
    ae_loss,
    bernoulli_log_prob,
    elbo,
    gaussian_kl,
    gaussian_log_prob,
    iwae_bound,
    vae_loss,
)

CFG = NetConfig(input_dim=20, hidden=(16,), latent_dim=3)


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros(5), torch.ones(5)))
    torch.testing.assert_close(gaussian_kl(mu, logvar), ref)
    assert torch.all(gaussian_kl(torch.zeros(3), torch.zeros(3)) == 0)


def test_log_probs_match_torch_distributions():
    g = torch.Generator().manual_seed(1)
    x = torch.bernoulli(torch.full((4, 20), 0.3), generator=g)
    logits = torch.randn(4, 20, generator=g)
    torch.testing.assert_close(bernoulli_log_prob(x, logits), Independent(Bernoulli(logits=logits), 1).log_prob(x))
    mean, logvar = torch.randn(4, 20, generator=g), torch.randn(4, 20, generator=g)
    torch.testing.assert_close(gaussian_log_prob(x, mean, logvar),
                               Independent(Normal(mean, (0.5 * logvar).exp()), 1).log_prob(x))
    z = torch.randn(4, 3, generator=g)
    torch.testing.assert_close(StandardNormalPrior(3).log_prob(z), Independent(Normal(0.0, torch.ones(3)), 1).log_prob(z))
    torch.testing.assert_close(GaussianEncoder.log_prob(z, mean[:, :3], logvar[:, :3]),
                               Independent(Normal(mean[:, :3], (0.5 * logvar[:, :3]).exp()), 1).log_prob(z))


def test_reparameterize_moments_and_gradient():
    mu = torch.tensor([1.0, -2.0], requires_grad=True)
    logvar = torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    z = reparameterize(mu.expand(50000, 2), logvar.expand(50000, 2), torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), mu.detach(), atol=0.03)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 2.0]), atol=0.03)
    z.mean().backward()  # gradients flow to both parameters
    assert mu.grad is not None and logvar.grad is not None


def test_ae_and_vae_share_everything_but_the_head():
    torch.manual_seed(0)
    ae, vae = Autoencoder(CFG), VAE(CFG)
    ae_shapes = {k: v.shape for k, v in ae.state_dict().items()}
    vae_shapes = {k: v.shape for k, v in vae.state_dict().items()}
    differ = {k for k in ae_shapes if ae_shapes[k] != vae_shapes.get(k)}
    assert differ == {"encoder.head.weight", "encoder.head.bias"}
    assert vae_shapes["encoder.head.weight"][0] == 2 * ae_shapes["encoder.head.weight"][0]


def test_forward_shapes():
    x = torch.rand(6, 20)
    with torch.no_grad():
        out = Autoencoder(CFG)(x)
    assert out.z.shape == (6, 3) and out.x_hat.shape == (6, 20)
    assert 0 <= float(out.x_hat.min()) and float(out.x_hat.max()) <= 1
    vout = VAE(CFG)(x)
    assert vout.z.shape == vout.mu.shape == vout.logvar.shape == (6, 3) and vout.logits.shape == (6, 20)
    assert VAE(CFG).sample(5).shape == (5, 20)


def test_loss_conventions_sum_over_pixels_mean_over_batch():
    torch.manual_seed(0)
    vae = VAE(CFG)
    x = torch.bernoulli(torch.full((8, 20), 0.5), generator=torch.Generator().manual_seed(2))
    terms = elbo(vae, x, torch.Generator().manual_seed(3))
    assert terms.elbo.shape == (8,) and terms.kl.shape == (8, 3)
    out = vae(x, torch.Generator().manual_seed(3))
    by_hand = -torch.nn.functional.binary_cross_entropy_with_logits(out.logits, x, reduction="sum") / 8 \
        - gaussian_kl(out.mu, out.logvar).sum() / 8
    torch.testing.assert_close(terms.elbo.mean(), by_hand)
    torch.testing.assert_close(vae_loss(vae, x, torch.Generator().manual_seed(3)), -by_hand)
    beta4 = vae_loss(vae, x, torch.Generator().manual_seed(3), beta=4.0)
    torch.testing.assert_close(beta4, -(terms.log_px_z - 4 * terms.kl.sum(-1)).mean())
    ae = Autoencoder(CFG)
    torch.testing.assert_close(ae_loss(ae, x), ((ae(x).x_hat - x) ** 2).mean())


def test_iwae_bound_tightens_and_k1_is_elbo_in_expectation():
    torch.manual_seed(0)
    vae = VAE(CFG)
    x = torch.bernoulli(torch.full((16, 20), 0.4), generator=torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(5)
    l1 = torch.stack([iwae_bound(vae, x, 1, g) for _ in range(200)]).mean()
    with torch.no_grad():
        e = torch.stack([elbo(vae, x, g).elbo for _ in range(200)]).mean()
    assert abs(float(l1 - e)) < 0.05 * abs(float(e))
    l10 = iwae_bound(vae, x, 10, g, chunk=3).mean()
    l200 = iwae_bound(vae, x, 200, g, chunk=64).mean()
    assert l1 < l10 < l200
    with pytest.raises(ValueError):
        iwae_bound(vae, x, 0)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="activation"):
        NetConfig(activation="swish")
    with pytest.raises(ValueError, match="latent_dim"):
        NetConfig(latent_dim=0)
    with pytest.raises(ValueError, match="hidden"):
        NetConfig(hidden=(16, -1))
