import itertools
import math

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Independent, MixtureSameFamily, Normal, kl_divergence

from aevae.objectives import gaussian_kl
from aevae.recurrent import (
    MDNRNN,
    RNN,
    VRNN,
    KLWarmup,
    RecurrentConfig,
    count_parameters,
    gaussian_kl_diag,
    mdn_rnn_loss,
    mixture_log_prob,
    rnn_loss,
    sequence_nll,
    vrnn_elbo,
    vrnn_iwae_bound,
    vrnn_loss,
)
from aevae.train import TrainConfig, fit

GAUSS = RecurrentConfig(x_dim=2, z_dim=3, h_dim=8, hidden=8)
BERN = RecurrentConfig(x_dim=3, z_dim=2, h_dim=8, hidden=8, likelihood="bernoulli")


def _models(cfg):
    torch.manual_seed(0)
    return {"rnn": RNN(cfg), "mdn-rnn": MDNRNN(cfg, 3), "vrnn-i": VRNN(cfg, prior="fixed"), "vrnn": VRNN(cfg)}


def test_kl_between_two_diagonal_gaussians_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mq, lq, mp, lp = (torch.randn(6, 4, generator=g) for _ in range(4))
    ref = kl_divergence(Normal(mq, (0.5 * lq).exp()), Normal(mp, (0.5 * lp).exp()))
    torch.testing.assert_close(gaussian_kl_diag(mq, lq, mp, lp), ref)
    zeros = torch.zeros_like(mq)
    torch.testing.assert_close(gaussian_kl_diag(mq, lq, zeros, zeros), gaussian_kl(mq, lq))
    assert torch.all(gaussian_kl_diag(mq, lq, mq, lq).abs() < 1e-6)


@pytest.mark.parametrize("cfg", [GAUSS, BERN], ids=["gaussian", "bernoulli"])
def test_shapes_and_samples(cfg):
    x = torch.rand(5, 7, cfg.x_dim).round()
    for name, m in _models(cfg).items():
        terms = m(x, torch.Generator().manual_seed(1))
        assert terms.log_px.shape == terms.kl.shape == terms.log_w.shape == (5, 7), name
        xs, means = m.sample(4, 6, torch.Generator().manual_seed(2))
        assert xs.shape == means.shape == (4, 6, cfg.x_dim)
        cont, _ = m.sample(4, 6, torch.Generator().manual_seed(2), prefix=x[:4, :3])
        torch.testing.assert_close(cont[:, :3], x[:4, :3])  # a continuation keeps the given prefix
        if cfg.likelihood == "bernoulli":
            assert set(xs.unique().tolist()) <= {0.0, 1.0}
    assert (_models(cfg)["rnn"](x).kl == 0).all()


def test_rnn_likelihood_is_normalised_over_all_binary_sequences():
    m = _models(BERN)["rnn"]
    seqs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3 * 3))).reshape(-1, 3, 3)  # all 512 (T=3, D=3)
    with torch.no_grad():
        total = torch.logsumexp(-sequence_nll(m, seqs), 0)
    assert abs(float(total)) < 1e-5


def test_rnn_gaussian_density_integrates_to_one():
    cfg = RecurrentConfig(x_dim=1, z_dim=1, h_dim=4, hidden=4)
    torch.manual_seed(3)
    m = RNN(cfg)
    with torch.no_grad():  # make the output variance moderate so that a grid covers the mass
        m.emission[-1].bias.copy_(torch.tensor([0.0, -1.0]))
    grid = torch.linspace(-8, 8, 801)
    a, b = torch.meshgrid(grid, grid, indexing="ij")
    x = torch.stack([a, b], -1).reshape(-1, 2, 1)  # every (x_1, x_2)
    with torch.no_grad():
        dens = (-sequence_nll(m, x)).double().exp()
    assert abs(float(dens.sum()) * float(grid[1] - grid[0]) ** 2 - 1) < 1e-3


@pytest.mark.parametrize("name", ["rnn", "mdn-rnn", "vrnn-i", "vrnn"])
def test_causal_and_backpropagates_through_the_whole_sequence(name):
    """No look-ahead: changing x_t leaves the terms of earlier steps unchanged. No truncated BPTT: the
    loss of the last step has a gradient with respect to the first input, through the hidden state."""
    m = _models(GAUSS)[name]
    x = torch.randn(3, 6, 2, generator=torch.Generator().manual_seed(4))
    x2 = x.clone()
    x2[:, 4] += 1.0
    t1 = m(x, torch.Generator().manual_seed(5))
    t2 = m(x2, torch.Generator().manual_seed(5))
    torch.testing.assert_close(t1.log_px[:, :4], t2.log_px[:, :4])
    assert not torch.allclose(t1.log_px[:, 4], t2.log_px[:, 4])
    xg = x.clone().requires_grad_(True)
    m(xg, torch.Generator().manual_seed(5)).log_px[:, -1].sum().backward()
    assert xg.grad[:, 0].abs().sum() > 0, "the last step's loss does not reach the first input"


def test_elbo_is_the_sum_of_steps_and_the_fixed_prior_is_standard_normal():
    x = torch.randn(4, 5, 2, generator=torch.Generator().manual_seed(6))
    models = _models(GAUSS)
    fixed = models["vrnn-i"]
    mu, lv = fixed.prior_params(torch.zeros(4, GAUSS.h_dim))
    assert (mu == 0).all() and (lv == 0).all()
    for m in (fixed, models["vrnn"]):
        terms = m(x, torch.Generator().manual_seed(7))
        torch.testing.assert_close(vrnn_elbo(m, x, torch.Generator().manual_seed(7)), (terms.log_px - terms.kl).sum(1))
        torch.testing.assert_close(vrnn_loss(m, x, torch.Generator().manual_seed(7)), -(terms.log_px - terms.kl).sum(1).mean())
        assert (terms.kl >= 0).all()
    torch.testing.assert_close(rnn_loss(models["rnn"], x), sequence_nll(models["rnn"], x).mean())


@pytest.mark.parametrize("prior", ["fixed", "learned"])
def test_iwae_k1_is_the_elbo_in_expectation_and_tightens_with_k(prior):
    torch.manual_seed(8)
    m = VRNN(BERN, prior=prior)
    x = torch.bernoulli(torch.full((6, 5, 3), 0.4), generator=torch.Generator().manual_seed(9))
    g = torch.Generator().manual_seed(10)
    xr = x.repeat(400, 1, 1)  # 400 independent draws of every sequence, in one batch
    with torch.no_grad():
        elbo = vrnn_elbo(m, xr, g).reshape(400, 6).mean(0)
    l1 = vrnn_iwae_bound(m, xr, 1, g).reshape(400, 6)
    se = l1.std(0) / math.sqrt(400)
    assert ((l1.mean(0) - elbo).abs() < 4 * se + 1e-3).all()
    l10 = vrnn_iwae_bound(m, x, 10, g, chunk=3).mean()
    l300 = vrnn_iwae_bound(m, x, 300, g, chunk=64).mean()
    assert l1.mean() < l10 < l300
    with pytest.raises(ValueError):
        vrnn_iwae_bound(m, x, 0)


def test_iwae_approaches_the_exact_likelihood_with_one_hidden_path_per_particle():
    """For T = 2 steps and a 1-D latent, log p(x_1, x_2) is a 2-D integral over (z_1, z_2) that quadrature
    computes exactly; h_1 depends on z_1, so a bound that shared hidden states between particles would miss."""
    cfg = RecurrentConfig(x_dim=3, z_dim=1, h_dim=6, hidden=6, likelihood="bernoulli")
    torch.manual_seed(11)
    m = VRNN(cfg)
    with torch.no_grad():  # make z matter: a wide prior and strong weights on the z path
        m.prior[-1].bias.copy_(torch.tensor([0.0, 1.0]))
        m.phi_z[0].weight.mul_(4.0)
    x = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])  # (1, T=2, D=3)
    grid = torch.linspace(-12, 12, 1201)
    dz = float(grid[1] - grid[0])
    with torch.no_grad():
        h0 = torch.zeros(1, cfg.h_dim)
        fx = m.phi_x(x)  # (1, 2, H)
        mu0, lv0 = m.prior_params(h0)
        z1 = grid[:, None]  # (G, 1)
        fz1 = m.phi_z(z1)
        h0g = h0.expand(len(grid), -1)
        lp1 = m.output.log_prob(x[:, 0], m.decoder(torch.cat([fz1, h0g], -1))) \
            + Normal(mu0, (0.5 * lv0).exp()).log_prob(z1).sum(-1)  # (G,) log p(x_1, z_1)
        h1 = m.cell(torch.cat([fx[:, 0].expand(len(grid), -1), fz1], -1), h0g)  # (G, h): one path per z_1
        mu1, lv1 = m.prior_params(h1)
        z2 = grid  # (G2,)
        h1g = h1[:, None].expand(-1, len(grid), -1)  # (G, G2, h)
        fz2 = m.phi_z(z2[:, None])[None].expand(len(grid), -1, -1)  # (G, G2, H)
        lp2 = m.output.log_prob(x[:, 1], m.decoder(torch.cat([fz2, h1g], -1))) \
            + Normal(mu1, (0.5 * lv1).exp()).log_prob(z2[None, :])  # (G, G2)
        exact = torch.logsumexp(lp1[:, None] + lp2, (0, 1)) + 2 * math.log(dz)
    bound = vrnn_iwae_bound(m, x, 20000, torch.Generator().manual_seed(12), chunk=5000)
    with torch.no_grad():
        elbo = torch.stack([vrnn_elbo(m, x, torch.Generator().manual_seed(s)) for s in range(200)]).mean()
    assert float(exact - elbo) > 0.1  # the ELBO is far from log p here: the test has teeth
    assert float(elbo) < float(bound) <= float(exact) + 0.01
    assert float(exact - bound) < 0.02, (float(exact), float(bound))


def test_kl_warmup_reaches_the_elbo_and_training_runs():
    w = KLWarmup(4)
    betas = []
    x = torch.randn(32, 5, 2, generator=torch.Generator().manual_seed(13))
    m = _models(GAUSS)["vrnn"]
    for _ in range(6):
        betas.append(w.beta)
        w(m, x, torch.Generator().manual_seed(0))
    assert betas == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    torch.testing.assert_close(w(m, x, torch.Generator().manual_seed(0)), vrnn_loss(m, x, torch.Generator().manual_seed(0)))
    hist = fit(m, KLWarmup(2), x, TrainConfig(epochs=3, batch_size=8, seed=0, grad_clip=5.0))
    assert hist.steps == 12 and all(math.isfinite(v) for v in hist.loss)
    with pytest.raises(ValueError):
        KLWarmup(-1)
    with pytest.raises(ValueError):
        VRNN(GAUSS, prior="mixture")
    with pytest.raises(ValueError):
        RecurrentConfig(likelihood="poisson")


def test_mixture_log_prob_matches_torch_mixture_same_family():
    g = torch.Generator().manual_seed(14)
    logits = torch.randn(5, 4, 3, generator=g)  # (..., J=3)
    mean, logvar = torch.randn(5, 4, 3, 2, generator=g), torch.randn(5, 4, 3, 2, generator=g)
    x = torch.randn(5, 4, 2, generator=g)
    ref = MixtureSameFamily(Categorical(logits=logits), Independent(Normal(mean, (0.5 * logvar).exp()), 1))
    torch.testing.assert_close(mixture_log_prob(x, logits, torch.cat([mean, logvar], -1)), ref.log_prob(x))
    bits = torch.bernoulli(torch.full((5, 4, 6), 0.3), generator=g)
    comp_logits = torch.randn(5, 4, 3, 6, generator=g)
    ref = MixtureSameFamily(Categorical(logits=logits), Independent(Bernoulli(logits=comp_logits), 1))
    torch.testing.assert_close(mixture_log_prob(bits, logits, comp_logits, "bernoulli"), ref.log_prob(bits))
    # one component, or J equal components, is that component's own density
    one = mixture_log_prob(x, logits[..., :1], torch.cat([mean, logvar], -1)[..., :1, :])
    torch.testing.assert_close(one, Independent(Normal(mean[..., 0, :], (0.5 * logvar[..., 0, :]).exp()), 1).log_prob(x))
    with pytest.raises(ValueError, match="params"):
        mixture_log_prob(x, logits, mean)  # (..., J, 2) is not (mean, logvar) for 2-D x
    with pytest.raises(ValueError, match="likelihood"):
        mixture_log_prob(x, logits, torch.cat([mean, logvar], -1), "poisson")


@pytest.mark.parametrize("cfg", [GAUSS, BERN], ids=["gaussian", "bernoulli"])
def test_mdn_rnn_step_is_the_mixture_of_its_emission_and_its_loss_is_the_exact_nll(cfg):
    torch.manual_seed(15)
    m = MDNRNN(cfg, 4)
    x = torch.rand(3, 5, cfg.x_dim, generator=torch.Generator().manual_seed(16)).round()
    with torch.no_grad():
        h = torch.zeros(3, cfg.h_dim)
        for t in range(5):  # rebuild every step's distribution by hand from the emission network
            params = m.emission(h)  # (3, J + J * out)
            logits, comp = params[:, :4], params[:, 4:].reshape(3, 4, cfg.out_dim)
            if cfg.likelihood == "gaussian":
                mean, logvar = comp.chunk(2, -1)
                base = Independent(Normal(mean, (0.5 * logvar).exp()), 1)
            else:
                base = Independent(Bernoulli(logits=comp), 1)
            ref = MixtureSameFamily(Categorical(logits=logits), base).log_prob(x[:, t])
            torch.testing.assert_close(m(x).log_px[:, t], ref)
            h = m.cell(m.phi_x(x[:, t]), h)
    torch.testing.assert_close(mdn_rnn_loss(m, x), sequence_nll(m, x).mean())
    torch.testing.assert_close(sequence_nll(m, x), -m(x).log_px.sum(1))
    assert count_parameters(m) - count_parameters(_models(cfg)["rnn"]) == (cfg.hidden + 1) * (4 * (1 + cfg.out_dim) - cfg.out_dim)
    with pytest.raises(TypeError):
        mdn_rnn_loss(_models(cfg)["rnn"], x)
    with pytest.raises(ValueError):
        MDNRNN(cfg, 0)


def test_mdn_rnn_likelihood_is_normalised_and_its_sampler_draws_the_mixture():
    torch.manual_seed(17)
    m = MDNRNN(BERN, 3)
    seqs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3 * 3))).reshape(-1, 3, 3)  # all 512 (T=3, D=3)
    with torch.no_grad():
        total = torch.logsumexp(-sequence_nll(m, seqs), 0)
        assert abs(float(total)) < 1e-5
        xs, means = m.sample(20000, 3, torch.Generator().manual_seed(18))
        first = m.output.mean(m.emission(torch.zeros(1, BERN.h_dim)))[0]  # the mixture's pixel marginals
    keys, counts = xs.reshape(-1, 9).unique(dim=0, return_counts=True)
    with torch.no_grad():
        probs = (-sequence_nll(m, keys.reshape(-1, 3, 3))).exp()
    empirical = counts.double() / 20000
    assert float((empirical - probs.double()).abs().max()) < 0.01  # sampled sequences follow the density
    torch.testing.assert_close(xs[:, 0].mean(0), first, atol=0.015, rtol=0)
    torch.testing.assert_close(means[:, 0], first.expand(20000, -1))
