"""The second-stage VAE on codes (Dai & Wipf 2019): its loss against torch.distributions, a fit that learns
a two-cluster density a Gaussian cannot, determinism, and clear errors."""

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from aevae.latent import fit_gaussian
from aevae.second_stage import CodeVAE, CodeVAEConfig, code_vae_loss, fit_second_stage
from aevae.train import TrainConfig


def two_clusters(n=4000, seed=0):
    g = torch.Generator().manual_seed(seed)
    side = torch.randint(0, 2, (n,), generator=g).float() * 2 - 1  # -1 or +1
    return torch.randn(n, 4, generator=g) * 0.3 + side[:, None] * torch.tensor([0.0, 1.0, 2.0, 3.0])


def test_the_loss_is_the_negative_elbo_of_torch_distributions():
    torch.manual_seed(0)
    model = CodeVAE(CodeVAEConfig(dim=4, hidden=(8,), latent_dim=3))
    with torch.no_grad():
        model.log_gamma.fill_(-0.7)
    z = torch.randn(5, 4)
    loss = code_vae_loss(model, z, torch.Generator().manual_seed(1))
    mu, logvar = model.encode(z)
    eps = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    u = mu + (0.5 * logvar).exp() * eps
    q = Normal(mu, (0.5 * logvar).exp())
    ref = -Normal(model.decode(u), torch.tensor(-0.7).exp()).log_prob(z).sum(-1) \
        + kl_divergence(q, Normal(torch.zeros(3), torch.ones(3))).sum(-1)
    assert torch.allclose(loss, ref.mean(), atol=1e-5)


def test_the_second_stage_learns_what_a_fitted_gaussian_misses():
    z = two_clusters()
    stage = fit_second_stage(z, TrainConfig(epochs=15, batch_size=128, lr=2e-3, seed=0))
    again = fit_second_stage(z, TrainConfig(epochs=15, batch_size=128, lr=2e-3, seed=0))
    assert stage.history.loss == again.history.loss, "a fit is reproducible"
    assert stage.history.loss[-1] < stage.history.loss[0]
    drawn = stage.sample(4000, torch.Generator().manual_seed(2))
    assert drawn.shape == (4000, 4) and torch.isfinite(drawn).all()
    gap = lambda x: float((x[:, 3].abs() < 1.5).float().mean())  # noqa: E731 - the empty middle of the last axis
    gaussian = fit_gaussian(z).sample(4000, torch.Generator().manual_seed(2))
    assert gap(z) < 0.01 and gap(gaussian) > 0.3
    assert gap(drawn) < 0.5 * gap(gaussian), "the learned density leaves the gap between the clusters emptier"
    assert abs(float(drawn[:, 3].abs().mean()) - float(z[:, 3].abs().mean())) < 0.5  # in the codes' units
    assert 0 < stage.gamma < 1


def test_bad_input_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="fit_second_stage: z_train must be"):
        fit_second_stage(torch.randn(10))
    with pytest.raises(ValueError, match="fit_second_stage: config.dim must be the codes' size 4"):
        fit_second_stage(torch.randn(10, 4), config=CodeVAEConfig(dim=3))
    with pytest.raises(ValueError, match="fit_second_stage: z_train must be"):
        fit_second_stage(torch.tensor([[float("nan")] * 4] * 3))
