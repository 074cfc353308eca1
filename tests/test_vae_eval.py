import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal

from aevae.models import VAE, NetConfig
from aevae.objectives import gaussian_kl, iwae_bound
from aevae.vae_eval import (
    GaussianVAE,
    ablate_units,
    active_units,
    binarized_entropy,
    bits_per_dim,
    decoded_mean,
    dequantize,
    gaussian_elbo,
    gaussian_vae_loss,
    importance_weighted_bound,
    iwae_in_batches,
    kl_per_unit,
    log_likelihood,
)

CFG = NetConfig(input_dim=20, hidden=(16,), latent_dim=3)


def _grey(n=8, seed=0):
    return torch.rand(n, 20, generator=torch.Generator().manual_seed(seed))


def test_binarized_entropy_matches_torch_and_is_a_floor():
    p = _grey()
    p[0, :5] = 0.0  # 0 log 0 = 0
    p[1, :5] = 1.0
    ref = Independent(Bernoulli(probs=p.double()), 1).entropy()
    torch.testing.assert_close(binarized_entropy(p), ref)
    assert binarized_entropy(torch.full((1, 10), 0.5)).item() == pytest.approx(10 * math.log(2))
    # Gibbs: the expected NLL of binarized draws under any other product of Bernoullis is larger.
    q = Independent(Bernoulli(probs=torch.full_like(p, 0.3).double()), 1)
    draws = torch.bernoulli(p.double().expand(20000, *p.shape), generator=torch.Generator().manual_seed(1))
    assert (-q.log_prob(draws).mean(0) > binarized_entropy(p)).all()
    with pytest.raises(ValueError):
        binarized_entropy(p + 1.0)


def test_dequantize_and_bits_per_dim():
    levels = torch.randint(0, 256, (50, 20), generator=torch.Generator().manual_seed(0))
    x = levels.float() / 255
    y = dequantize(x, torch.Generator().manual_seed(1))
    assert y.min() >= 0 and y.max() < 1
    assert torch.equal(torch.floor(y * 256).long(), levels)
    # a uniform density on [0, 1]^D gives every 8-bit image probability 256^-D: 8 bits per pixel
    assert bits_per_dim(0.0, 20) == pytest.approx(8.0)
    assert bits_per_dim(-20 * math.log(2), 20) == pytest.approx(7.0)


def test_gaussian_vae_adds_one_scalar_and_its_elbo_is_right():
    torch.manual_seed(0)
    vae, gvae = VAE(CFG), GaussianVAE(CFG, init_scale=0.2)
    extra = set(gvae.state_dict()) - set(vae.state_dict())
    assert extra == {"log_scale"} and gvae.log_scale.numel() == 1
    x = _grey()
    terms = gaussian_elbo(gvae, x, torch.Generator().manual_seed(2))
    out = gvae(x, torch.Generator().manual_seed(2))
    ref = Independent(Normal(torch.sigmoid(out.logits), 0.2), 1).log_prob(x)
    torch.testing.assert_close(terms.log_px_z, ref)
    torch.testing.assert_close(terms.elbo, ref - gaussian_kl(out.mu, out.logvar).sum(-1))
    torch.testing.assert_close(gaussian_vae_loss(gvae, x, torch.Generator().manual_seed(2)), -terms.elbo.mean())
    with pytest.raises(ValueError):
        GaussianVAE(CFG, init_scale=0.0)


def test_generic_bound_equals_the_bernoulli_iwae_and_tightens():
    torch.manual_seed(0)
    vae = VAE(CFG)
    x = torch.bernoulli(_grey(), generator=torch.Generator().manual_seed(3))
    a = importance_weighted_bound(vae, x, 37, torch.Generator().manual_seed(4), chunk=10)
    b = iwae_bound(vae, x, 37, torch.Generator().manual_seed(4), chunk=10)
    torch.testing.assert_close(a, b)
    c = iwae_in_batches(vae, x, 37, torch.Generator().manual_seed(4), batch_size=3, chunk=10)
    assert c.shape == (8,) and torch.isfinite(c).all()
    gvae = GaussianVAE(CFG, init_scale=0.3)
    xg = _grey()
    g = torch.Generator().manual_seed(5)
    l1 = torch.stack([importance_weighted_bound(gvae, xg, 1, g) for _ in range(100)]).mean()
    with torch.no_grad():
        e = torch.stack([gaussian_elbo(gvae, xg, g).elbo for _ in range(100)]).mean()
    assert abs(float(l1 - e)) < 0.05 * abs(float(e))
    assert l1 < importance_weighted_bound(gvae, xg, 100, g).mean()


def test_log_likelihood_dispatches_on_the_decoder():
    torch.manual_seed(0)
    vae, gvae = VAE(CFG), GaussianVAE(CFG, init_scale=0.5)
    x, z = _grey(), torch.randn(8, 3)
    with torch.no_grad():
        xb = torch.bernoulli(x, generator=torch.Generator().manual_seed(1))
        torch.testing.assert_close(log_likelihood(vae, xb, z),
                                   Independent(Bernoulli(logits=vae.decode(z)), 1).log_prob(xb))
        torch.testing.assert_close(log_likelihood(gvae, x, z),
                                   Independent(Normal(torch.sigmoid(gvae.decode(z)), 0.5), 1).log_prob(x))


def test_active_units_and_kl_per_unit():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(500, 4, generator=g) * torch.tensor([1.0, 0.5, 0.05, 0.001])
    activity, active = active_units(mu)
    np.testing.assert_allclose(activity.numpy(), np.var(mu.double().numpy(), axis=0, ddof=1), rtol=1e-10)
    assert active.tolist() == [True, True, False, False]
    with pytest.raises(ValueError):
        active_units(mu[:1])
    torch.manual_seed(0)
    vae = VAE(CFG)
    x = _grey(50)
    per_unit = kl_per_unit(vae, x, batch_size=7)
    with torch.no_grad():
        mu, logvar = vae.encode(x)
    torch.testing.assert_close(per_unit, gaussian_kl(mu, logvar).double().mean(0))


def test_ablation_of_an_ignored_unit_changes_nothing():
    torch.manual_seed(0)
    vae = VAE(CFG)
    with torch.no_grad():  # the decoder ignores unit 2 entirely
        vae.decoder.net[0].weight[:, 2] = 0.0
    x = torch.bernoulli(_grey(30), generator=torch.Generator().manual_seed(1))
    ignored = ablate_units(vae, x, [2], "prior", torch.Generator().manual_seed(2))
    assert abs(ignored.delta_log_px) < 1e-5 and ignored.image_mse < 1e-10
    used = ablate_units(vae, x, [0, 1], "prior", torch.Generator().manual_seed(2))
    assert used.image_mse > 1e-6 and used.units == (0, 1)
    nothing = ablate_units(vae, x, [], "zero")
    assert nothing.delta_log_px == 0 and nothing.image_mse == 0
    with pytest.raises(ValueError):
        ablate_units(vae, x, [3])
    with pytest.raises(ValueError):
        ablate_units(vae, x, [0], mode="mean")


def test_decoded_mean_is_sigmoid_of_decoder_at_mu():
    torch.manual_seed(0)
    vae = VAE(CFG)
    x = _grey(9)
    with torch.no_grad():
        ref = torch.sigmoid(vae.decode(vae.encode(x)[0]))
    torch.testing.assert_close(decoded_mean(vae, x, batch_size=4), ref)


def test_elbo_and_vae_loss_dispatch_on_the_decoder():
    """objectives.elbo / vae_loss use the model's own likelihood: Gaussian for a GaussianVAE (the same
    numbers as gaussian_elbo / gaussian_vae_loss), Bernoulli for a VAE (unchanged)."""
    from aevae.objectives import elbo, vae_loss

    torch.manual_seed(0)
    gvae = GaussianVAE(CFG, init_scale=0.3)
    x = _grey(16, 2)
    g = lambda: torch.Generator().manual_seed(7)  # noqa: E731
    terms = elbo(gvae, x, g())
    out = gvae(x, g())
    gauss = Independent(Normal(torch.sigmoid(out.logits), 0.3), 1).log_prob(x)
    torch.testing.assert_close(terms.log_px_z, gauss)
    assert torch.equal(terms.elbo, gaussian_elbo(gvae, x, g()).elbo)
    assert torch.equal(vae_loss(gvae, x, g()), gaussian_vae_loss(gvae, x, g()))
    from aevae.objectives import bernoulli_log_prob

    assert not torch.allclose(terms.log_px_z, bernoulli_log_prob(x, out.logits))  # what elbo used to compute
    vae = VAE(CFG)
    xb = torch.bernoulli(x, generator=torch.Generator().manual_seed(1))
    out = vae(xb, g())
    torch.testing.assert_close(elbo(vae, xb, g()).log_px_z, Independent(Bernoulli(logits=out.logits), 1).log_prob(xb))
    with pytest.raises(TypeError, match="GaussianVAE"):
        gaussian_elbo(vae, xb)


def test_kl_per_unit_is_one_function_for_a_model_and_an_encoded_pool():
    from aevae import disentangle

    torch.manual_seed(0)
    vae = VAE(CFG)
    x = _grey(30, 3)
    assert disentangle.kl_per_unit is kl_per_unit
    by_model = kl_per_unit(vae, x, batch_size=7)
    torch.testing.assert_close(kl_per_unit(disentangle.encode(vae, x)), by_model)
    with torch.no_grad():
        mu, logvar = vae.encode(x)
    torch.testing.assert_close(by_model, gaussian_kl(mu, logvar).double().mean(0))
    with pytest.raises(TypeError, match="VAE"):
        kl_per_unit(torch.nn.Linear(2, 2), x)
