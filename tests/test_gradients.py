import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal

from aevae.gradients import elbo_gradient, encoder_parameters, gradient_variance
from aevae.models import VAE, NetConfig
from aevae.objectives import elbo

CFG = NetConfig(input_dim=12, hidden=(8,), latent_dim=2)


def _setup(seed=0, batch=4):
    torch.manual_seed(seed)
    model = VAE(CFG)
    x = torch.bernoulli(torch.full((batch, 12), 0.4), generator=torch.Generator().manual_seed(seed + 1))
    return model, x


def test_pathwise_with_one_sample_is_the_training_gradient():
    model, x = _setup()
    g = elbo_gradient(model, x, "pathwise", 1, torch.Generator().manual_seed(7))
    ref = torch.autograd.grad(elbo(model, x, torch.Generator().manual_seed(7)).elbo.mean(),
                              encoder_parameters(model))
    torch.testing.assert_close(g, torch.cat([r.reshape(-1) for r in ref]))
    assert g.shape == (sum(p.numel() for p in model.encoder.parameters()),)


def _reference_gradient(model, x, n=200_000, seed=11):
    """d ELBO / d phi by torch.distributions: rsample, Bernoulli log_prob, analytic KL, averaged."""
    mu, logvar = model.encode(x)
    q = Independent(Normal(mu, (0.5 * logvar).exp()), 1)
    torch.manual_seed(seed)
    z = q.rsample((n,))  # (n, B, k)
    log_px = Independent(Bernoulli(logits=model.decode(z)), 1).log_prob(x)  # (n, B)
    prior = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    obj = (log_px.mean(0) - torch.distributions.kl_divergence(q, prior)).mean()
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(obj, encoder_parameters(model))]).double()


@pytest.mark.parametrize("estimator", ["pathwise", "score", "score_baseline", "score_batch_baseline",
                                       "score_mu_baseline"])
def test_every_estimator_is_unbiased(estimator):
    model, x = _setup()
    ref = _reference_gradient(model, x)
    stats = gradient_variance(model, x, estimator, n_samples=50, repeats=400,
                              generator=torch.Generator().manual_seed(3))
    # The mean of 400 estimates is within a few standard errors of the reference, in total.
    se2 = stats.variance / stats.repeats
    err2 = float(((stats.mean - ref) ** 2).sum())
    assert err2 < 4 * se2 + 1e-3 * float((ref**2).sum()), (estimator, err2, se2)


def test_score_function_is_noisier_and_the_baseline_helps():
    model, x = _setup()
    g = torch.Generator().manual_seed(5)
    path = gradient_variance(model, x, "pathwise", n_samples=4, repeats=200, generator=g)
    score = gradient_variance(model, x, "score", n_samples=4, repeats=200, generator=g)
    base = gradient_variance(model, x, "score_baseline", n_samples=4, repeats=200, generator=g)
    assert score.variance > 5 * path.variance
    assert base.variance < score.variance
    assert path.snr > score.snr


def test_one_sample_baselines_remove_the_offset_of_log_p():
    """log p(x|z) of many pixels is a large negative number that the plain score function multiplies the
    score by; with one sample per image, either baseline removes it (their unbiasedness is tested above)."""
    torch.manual_seed(0)
    model = VAE(NetConfig(input_dim=200, hidden=(16,), latent_dim=2))
    x = torch.bernoulli(torch.full((16, 200), 0.3), generator=torch.Generator().manual_seed(1))
    var = {e: gradient_variance(model, x, e, 1, 100, torch.Generator().manual_seed(2)).variance
           for e in ("score", "score_batch_baseline", "score_mu_baseline")}
    assert max(var["score_batch_baseline"], var["score_mu_baseline"]) < 0.01 * var["score"], var


def test_the_batch_baseline_is_the_mean_of_the_other_images():
    """With two images, each image's baseline is the other image's log p(x|z): the estimate equals the
    plain score-function surrogate with f_a - f_b and f_b - f_a written out by hand."""
    from aevae.models import GaussianEncoder, reparameterize
    from aevae.objectives import bernoulli_log_prob, gaussian_kl

    model, x = _setup(batch=2)
    g = elbo_gradient(model, x, "score_batch_baseline", 1, torch.Generator().manual_seed(9))
    mu, logvar = model.encode(x)
    z = reparameterize(mu.unsqueeze(0), logvar.unsqueeze(0), torch.Generator().manual_seed(9)).detach()  # (1, 2, k)
    with torch.no_grad():
        f = bernoulli_log_prob(x, model.decode(z))[0]  # (2,)
    log_q = GaussianEncoder.log_prob(z, mu.unsqueeze(0), logvar.unsqueeze(0))[0]  # (2,)
    objective = (((f - f.flip(0)) * log_q) - gaussian_kl(mu, logvar).sum(-1)).mean()
    ref = torch.cat([r.reshape(-1) for r in torch.autograd.grad(objective, encoder_parameters(model))])
    torch.testing.assert_close(g, ref)
    with pytest.raises(ValueError, match="batch of 2"):
        elbo_gradient(model, x[:1], "score_batch_baseline", 1)


def test_variance_falls_as_one_over_the_number_of_samples():
    model, x = _setup()
    v1 = gradient_variance(model, x, "pathwise", 1, 600, torch.Generator().manual_seed(1)).variance
    v8 = gradient_variance(model, x, "pathwise", 8, 600, torch.Generator().manual_seed(2)).variance
    assert 8 * 0.75 < v1 / v8 < 8 * 1.33


def test_deterministic_gradient_has_zero_variance():
    model, x = _setup()
    with torch.no_grad():  # sigma -> 0: z = mu exactly, so every estimate is the same
        model.encoder.head.bias[CFG.latent_dim:] = -200.0
        model.encoder.head.weight[CFG.latent_dim:] = 0.0
    stats = gradient_variance(model, x, "pathwise", 2, 5, torch.Generator().manual_seed(0))
    assert stats.variance < 1e-10 and stats.mean_sq_norm > 0


def test_bad_arguments():
    model, x = _setup()
    with pytest.raises(ValueError, match="estimator"):
        elbo_gradient(model, x, "reinforce")
    with pytest.raises(ValueError, match="n_samples"):
        elbo_gradient(model, x, "pathwise", 0)
    with pytest.raises(ValueError, match="baseline"):
        elbo_gradient(model, x, "score_baseline", 1)
    with pytest.raises(ValueError, match="repeats"):
        gradient_variance(model, x, repeats=1)
