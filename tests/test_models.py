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


def test_log_q_from_eps_is_exact_and_safe_for_tiny_sigma():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(50, 4, generator=g)
    logvar = torch.randn(50, 4, generator=g)
    from aevae.models import draw

    z, eps = draw(mu, logvar, torch.Generator().manual_seed(1))
    torch.testing.assert_close(z, reparameterize(mu, logvar, torch.Generator().manual_seed(1)), rtol=0, atol=0)
    ref = Independent(Normal(mu.double(), (0.5 * logvar.double()).exp()), 1).log_prob(z.double())
    torch.testing.assert_close(GaussianEncoder.log_prob_eps(eps, logvar).double(), ref, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(GaussianEncoder.log_prob(z, mu, logvar).double(), ref, rtol=1e-5, atol=1e-4)
    # sigma = exp(-60): sigma^2 underflows in float32, so the z-form divides 0 by 0; the eps-form is exact
    tiny = torch.full((3, 4), -120.0)
    z, eps = draw(torch.ones(3, 4), tiny, torch.Generator().manual_seed(2))
    exact = Independent(Normal(torch.zeros(3, 4, dtype=torch.float64), 1.0), 1).log_prob(eps.double()) + 0.5 * 120 * 4
    assert torch.isfinite(GaussianEncoder.log_prob_eps(eps, tiny)).all()
    torch.testing.assert_close(GaussianEncoder.log_prob_eps(eps, tiny).double(), exact, rtol=1e-6, atol=1e-4)
    assert not torch.isfinite(GaussianEncoder.log_prob(z, torch.ones(3, 4), tiny)).all()


def test_iwae_bound_uses_the_eps_that_drew_z():
    """iwae_bound's log q(z|x) comes from eps: with a posterior so narrow that sigma^2 underflows, the bound
    stays finite (log q is large but exact)."""
    torch.manual_seed(0)
    vae = VAE(CFG)
    with torch.no_grad():
        vae.encoder.head.bias[3:] = -150.0  # logvar = -150: sigma = exp(-75), sigma^2 = 0 in float32
        vae.encoder.head.weight[3:] = 0.0
    x = torch.bernoulli(torch.full((4, 20), 0.4), generator=torch.Generator().manual_seed(4))
    bound = iwae_bound(vae, x, 5, torch.Generator().manual_seed(5))
    assert torch.isfinite(bound).all()
    # every z_i equals mu to float precision, and log q(z_i|x) = -1/2 sum(log 2 pi + logvar + eps_i^2)
    with torch.no_grad():
        mu, logvar = vae.encode(x)
        eps = torch.randn((5, *mu.shape), generator=torch.Generator().manual_seed(5))
        log_q = -0.5 * (math.log(2 * math.pi) + logvar + eps**2).sum(-1)  # (5, B)
        log_pxz = bernoulli_log_prob(x, vae.decode(mu)) + vae.prior.log_prob(mu)  # (B,)
        ref = torch.logsumexp(log_pxz - log_q, 0) - math.log(5)
    torch.testing.assert_close(bound, ref)


def test_image_batches_are_flattened_and_bad_batches_name_the_fix():
    torch.manual_seed(0)
    cfg = NetConfig(input_dim=784, hidden=(32,), latent_dim=2)
    ae, vae = Autoencoder(cfg), VAE(cfg)
    x = torch.rand(5, 784, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for shape in ((5, 28, 28), (5, 1, 28, 28)):
            torch.testing.assert_close(ae(x.reshape(shape)).x_hat, ae(x).x_hat, rtol=0, atol=0)
            torch.testing.assert_close(vae.encode(x.reshape(shape))[0], vae.encode(x)[0], rtol=0, atol=0)
        xb = torch.bernoulli(x, generator=torch.Generator().manual_seed(1))
        torch.testing.assert_close(vae_loss(vae, xb.reshape(5, 28, 28), torch.Generator().manual_seed(2)),
                                   vae_loss(vae, xb, torch.Generator().manual_seed(2)), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"x must be .*\(B, 784\).*got a float32 tensor of shape \(8, 100\).*input_dim=784"):
        ae(torch.rand(8, 100))
    with pytest.raises(TypeError, match=r"x\.float\(\)"):
        vae(torch.zeros(2, 784, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"beta must be a finite number >= 0; got -1\.0"):
        vae_loss(vae, torch.zeros(2, 784), beta=-1.0)
    with pytest.raises(ValueError, match=r"beta must be a finite number >= 0; got nan"):
        vae_loss(vae, torch.zeros(2, 784), beta=float("nan"))
    with pytest.raises(ValueError, match=r"bernoulli_log_prob: x must be in \[0, 1\]; got values from 0 to 3"):
        bernoulli_log_prob(torch.full((2, 4), 3.0).clamp_max(3).index_fill(1, torch.tensor([0]), 0.0),
                           torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"z must be .*last dimension 2"):
        vae.decode(torch.zeros(4, 3))
