"""Recurrent models of sequences for chapter 7: a deterministic RNN with one output distribution per step,
the same RNN with a mixture-density output (MDN-RNN, Graves 2013), and the variational RNN (VRNN) of
Chung et al. (2015) with a fixed N(0, I) prior (VRNN-I) or a learned sequential prior (VRNN).

All four share one recurrent core and the same sizes (:class:`RecurrentConfig`), so only the latent
structure (and the MDN-RNN's output) differs. Notation follows Chung et al. (2015), section 3: ``phi_x``, ``phi_z`` feature
extractors, ``h_t`` the GRU state (Cho et al. 2014), ``h_0 = 0``.

- RNN:     p(x_t | x_<t) = p(x_t | h_{t-1}),                         h_t = GRU(phi_x(x_t), h_{t-1}).
- MDN-RNN: the RNN with a mixture-density output (Graves 2013, section 4.1, eq. 23): p(x_t | h_{t-1}) =
           sum_j pi_j(h_{t-1}) p_j(x_t | h_{t-1}), J components of the per-step output below.
- VRNN-I:  prior p(z_t) = N(0, I);
- VRNN:    prior p(z_t | h_{t-1}) = N(mu_0(h_{t-1}), diag sigma_0^2(h_{t-1}))       (Chung et al. eq. 5);
  both:    encoder q(z_t | x_t, h_{t-1}) = N(mu_z, diag sigma_z^2)([phi_x(x_t), h_{t-1}])   (eq. 9),
           decoder p(x_t | z_t, h_{t-1}) from [phi_z(z_t), h_{t-1}]                      (eq. 6),
           recurrence h_t = GRU([phi_x(x_t), phi_z(z_t)], h_{t-1})                    (eq. 7).

Each step's output distribution is a diagonal Gaussian (continuous data) or independent Bernoullis
(binary data). Conventions as in :mod:`aevae.objectives`: log-likelihoods and KLs are summed over the
dimensions of a step; functions return one value per step (B, T) or per sequence (B,), in nats; losses
are the mean over the batch of per-sequence sums.

Backpropagation runs through the whole sequence: the hidden state is never detached (truncating it is a
known bug of popular public VRNN code), and :func:`aevae.train.fit` clips gradients *before* the
optimiser step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from . import checks
from .models import mlp, reparameterize
from .objectives import bernoulli_log_prob, gaussian_kl, gaussian_log_prob

__all__ = [
    "RecurrentConfig",
    "gaussian_kl_diag",
    "RNN",
    "MDNRNN",
    "VRNN",
    "StepTerms",
    "sequence_nll",
    "rnn_loss",
    "mixture_log_prob",
    "mdn_rnn_loss",
    "vrnn_loss",
    "vrnn_elbo",
    "vrnn_iwae_bound",
    "KLWarmup",
    "count_parameters",
]


def gaussian_kl_diag(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor) -> torch.Tensor:
    """KL( N(mu_q, diag e^logvar_q) || N(mu_p, diag e^logvar_p) ) per dimension, (..., k) -> (..., k).

    Closed form: 0.5 * (logvar_p - logvar_q + (e^logvar_q + (mu_q - mu_p)^2) / e^logvar_p - 1).
    With mu_p = 0, logvar_p = 0 it is :func:`aevae.objectives.gaussian_kl`. Sum the last axis for the KL
    of the whole code.
    """
    where = "gaussian_kl_diag"
    for name, t in (("mu_q", mu_q), ("logvar_q", logvar_q), ("mu_p", mu_p), ("logvar_p", logvar_p)):
        checks.tensor(t, name, where, dims="(..., k)")
    checks.broadcastable(mu_q, logvar_q, "mu_q and logvar_q", where)
    checks.broadcastable(mu_p, logvar_p, "mu_p and logvar_p", where)
    checks.broadcastable(mu_q, mu_p, "mu_q and mu_p", where)
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0)


@dataclass(frozen=True)
class RecurrentConfig:
    """Sizes shared by the RNN, the VRNN-I and the VRNN."""

    x_dim: int = 2
    z_dim: int = 2
    h_dim: int = 64  # GRU state
    hidden: int = 64  # width of every MLP (feature extractors, heads)
    likelihood: str = "gaussian"  # per-step output: "gaussian" (diagonal) or "bernoulli"

    def __post_init__(self) -> None:
        for name in ("x_dim", "z_dim", "h_dim", "hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if self.likelihood not in {"gaussian", "bernoulli"}:
            raise ValueError(f"likelihood must be 'gaussian' or 'bernoulli', got {self.likelihood!r}.")

    @property
    def out_dim(self) -> int:
        """Width of the output layer: mean and log-variance, or logits."""
        return 2 * self.x_dim if self.likelihood == "gaussian" else self.x_dim


def _head(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """One hidden ReLU layer, then a linear output: (..., in) -> (..., out)."""
    return nn.Sequential(*mlp([in_dim, hidden], "relu"), nn.Linear(hidden, out_dim))


class _Output(nn.Module):
    """The per-step observation model p(x_t | params) shared by the three models."""

    def __init__(self, config: RecurrentConfig):
        super().__init__()
        self.config = config

    @property
    def n_params(self) -> int:
        """Width of the emission network's output."""
        return self.config.out_dim

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x_t | params), summed over the step's dimensions: (..., D), (..., out) -> (...)."""
        if self.config.likelihood == "bernoulli":
            return bernoulli_log_prob(x, params)
        mean, logvar = params.chunk(2, -1)
        return gaussian_log_prob(x, mean, logvar)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        if self.config.likelihood == "bernoulli":
            return torch.sigmoid(params)
        return params.chunk(2, -1)[0]

    def sample(self, params: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if self.config.likelihood == "bernoulli":
            where = generator.device if generator is not None else params.device
            u = torch.rand(params.shape, generator=generator, device=where).to(params.device)
            return (u < torch.sigmoid(params)).to(params.dtype)
        mean, logvar = params.chunk(2, -1)
        return reparameterize(mean, logvar, generator)


def mixture_log_prob(x: torch.Tensor, logits: torch.Tensor, params: torch.Tensor,
                     likelihood: str = "gaussian") -> torch.Tensor:
    """log sum_j pi_j p(x | params_j) with pi = softmax(logits), the mixture density of Graves (2013, eq. 23)
    with diagonal components (no correlation, no end-of-stroke bit), in nats, in log space (logsumexp).

    x (..., D); logits (..., J); params (..., J, P), each component's parameters of the per-step output:
    P = 2D (mean, log-variance) for ``"gaussian"``, P = D (Bernoulli logits) for ``"bernoulli"``, where a
    component is a product of independent Bernoullis but the mixture is not. Returns (...).
    """
    where = "mixture_log_prob"
    if likelihood not in {"gaussian", "bernoulli"}:
        checks.fail(where, "likelihood", "'gaussian' or 'bernoulli'", repr(likelihood))
    checks.tensor(x, "x", where, dims="(..., D)", check_finite=False)
    checks.tensor(logits, "logits", where, dims="(..., J)")
    checks.tensor(params, "params", where, ndim=range(2, 9), dims="(..., J, P)")
    D = x.shape[-1]
    P = 2 * D if likelihood == "gaussian" else D
    if params.shape[-1] != P or params.shape[-2] != logits.shape[-1]:
        checks.fail(where, "params", f"(..., J, {P}) with J = {logits.shape[-1]} as in logits (..., J), for x "
                    f"(..., {D}) and a {likelihood} output", checks.describe(params))
    checks.broadcastable(x.unsqueeze(-2), params[..., :D], "x and params", where)
    checks.broadcastable(logits, params[..., 0], "logits (..., J) and params (..., J, P)", where)
    if likelihood == "bernoulli":
        checks.in_range(x, "x", where, 0, 1, "a Bernoulli output scores binary pixels in [0, 1]")
        comp = bernoulli_log_prob(x.unsqueeze(-2), params)  # (..., J)
    else:
        checks.finite(x, "x", where)
        mean, logvar = params.chunk(2, -1)
        comp = gaussian_log_prob(x.unsqueeze(-2), mean, logvar)  # (..., J)
    return torch.logsumexp(logits.log_softmax(-1) + comp, -1)


class _MixtureOutput(_Output):
    """A mixture of ``components`` per-step outputs; params (..., J + J * out) = [logits, component params]."""

    def __init__(self, config: RecurrentConfig, components: int):
        super().__init__(config)
        self.components = components

    @property
    def n_params(self) -> int:
        return self.components * (1 + self.config.out_dim)

    def split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., J + J * out) -> mixture logits (..., J), component parameters (..., J, out)."""
        J = self.components
        return params[..., :J], params[..., J:].unflatten(-1, (J, self.config.out_dim))

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        logits, comp = self.split(params)
        return mixture_log_prob(x, logits, comp, self.config.likelihood)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        logits, comp = self.split(params)
        return (logits.softmax(-1).unsqueeze(-1) * super().mean(comp)).sum(-2)  # sum_j pi_j mean_j

    def sample(self, params: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        logits, comp = self.split(params)  # (n, J), (n, J, out)
        where = generator.device if generator is not None else params.device
        j = torch.multinomial(logits.softmax(-1).to(where), 1, generator=generator).to(params.device)  # (n, 1)
        chosen = comp.gather(-2, j.unsqueeze(-1).expand(-1, 1, comp.shape[-1]))[:, 0]  # (n, out)
        return super().sample(chosen, generator)


def _check_sequences(model: nn.Module, x, name: str, where: str, min_steps: int = 1) -> None:
    """x (B, T, D) for ``model``: floating point with the model's dtype, D = config.x_dim, T >= ``min_steps``,
    finite, and in [0, 1] for a Bernoulli output."""
    c = model.config
    checks.tensor(x, name, where, ndim=3, dims=f"(B, T, {c.x_dim})", check_finite=False)
    if x.shape[-1] != c.x_dim or x.shape[1] < min_steps or x.shape[0] < 1:
        checks.fail(where, name, f"sequences (B >= 1, T >= {min_steps}, {c.x_dim}) for x_dim={c.x_dim}",
                    checks.describe(x), "images read row by row: aevae.sequences.images_to_sequences(images)")
    weight = next(model.parameters())
    if x.dtype != weight.dtype:
        checks.fail(where, name, f"a {weight.dtype} tensor like the model's weights", checks.describe(x),
                    f"{name}.to({weight.dtype})", TypeError)
    if c.likelihood == "bernoulli":
        checks.in_range(x, name, where, 0, 1, "a Bernoulli output scores binary pixels in [0, 1]")
    else:
        checks.finite(x, name, where)


def _forward_pre_check(module: nn.Module, args: tuple, kwargs: dict) -> None:
    """Checks the inputs of ``model(x, generator)`` before the forward pass (a forward pre-hook, so that
    the forward pass itself reads as the model's equations)."""
    where = f"{type(module).__name__}(x, generator)"
    x = args[0] if args else kwargs.get("x")
    _check_sequences(module, x, "x", where)
    gen = args[1] if len(args) > 1 else kwargs.get("generator")
    checks.generator(gen, where)


def _check_sample(model: nn.Module, n, length, generator, prefix, where: str) -> None:
    checks.integer(n, "n", where)
    checks.integer(length, "length", where)
    checks.generator(generator, where)
    if prefix is not None:
        _check_sequences(model, prefix, "prefix", where, min_steps=0)
        if prefix.shape[0] != n:
            checks.fail(where, "prefix", f"(n={n}, t0, {model.config.x_dim}): one prefix per sample",
                        checks.describe(prefix))


class StepTerms(NamedTuple):
    """Per-step terms of one pass over a batch of sequences, each (B, T) in nats."""

    log_px: torch.Tensor  # log p(x_t | z_t, h_{t-1}) at the sampled z_t (RNN: log p(x_t | h_{t-1}))
    kl: torch.Tensor  # KL(q(z_t | x_t, h_{t-1}) || p(z_t | h_{t-1})), closed form (RNN: zeros)
    log_w: torch.Tensor  # log p(x_t|z_t,h) + log p(z_t|h) - log q(z_t|x_t,h) at the sampled z_t (RNN: log_px)


class RNN(nn.Module):
    """A deterministic GRU: p(x_{1:T}) = prod_t p(x_t | h_{t-1}), one unimodal output per step.

    Its likelihood is exact, so its test NLL is an NLL, not a bound.
    """

    def __init__(self, config: RecurrentConfig):
        super().__init__()
        self._build(config, _Output(config))

    def _build(self, config: RecurrentConfig, output: _Output) -> None:
        if not isinstance(config, RecurrentConfig):
            checks.fail(type(self).__name__, "config", "a RecurrentConfig", checks.describe(config), kind=TypeError)
        self.config = config
        c = config
        self.phi_x = mlp([c.x_dim, c.hidden, c.hidden], "relu")  # (B, D) -> (B, H)
        self.emission = _head(c.h_dim, c.hidden, output.n_params)  # h_{t-1} -> output params
        self.cell = nn.GRUCell(c.hidden, c.h_dim)
        self.output = output
        self.register_forward_pre_hook(_forward_pre_check, with_kwargs=True)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> StepTerms:
        """x (B, T, D) -> per-step log p(x_t | x_<t), (B, T). ``generator`` is unused (no randomness)."""
        B, T, _ = x.shape
        fx = self.phi_x(x)  # (B, T, H): depends on x only, computed once
        h = x.new_zeros(B, self.config.h_dim)
        log_px = []
        for t in range(T):
            log_px.append(self.output.log_prob(x[:, t], self.emission(h)))  # (B,)
            h = self.cell(fx[:, t], h)  # never detached: full backpropagation through time
        log_px = torch.stack(log_px, 1)  # (B, T)
        return StepTerms(log_px, torch.zeros_like(log_px), log_px)

    @torch.no_grad()
    def sample(self, n: int, length: int, generator: torch.Generator | None = None,
               prefix: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Ancestral samples (n, T, D) and the output means they were drawn around (n, T, D).

        With ``prefix`` (n, t0, D) the first t0 steps are the given ones (a continuation)."""
        _check_sample(self, n, length, generator, prefix, f"{type(self).__name__}.sample")
        device = next(self.parameters()).device
        h = torch.zeros(n, self.config.h_dim, device=device)
        xs, means = [], []
        for t in range(length):
            params = self.emission(h)
            x_t = prefix[:, t].to(device) if prefix is not None and t < prefix.shape[1] else self.output.sample(params, generator)
            xs.append(x_t)
            means.append(self.output.mean(params))
            h = self.cell(self.phi_x(x_t), h)
        return torch.stack(xs, 1), torch.stack(means, 1)


class MDNRNN(RNN):
    """The RNN with a mixture-density output (Graves 2013, section 4.1; Bishop 1994): at every step
    p(x_t | h_{t-1}) = sum_j pi_j N(x_t; mu_j, diag sigma_j^2) (or a mixture of products of Bernoullis),
    all J weights and components computed from h_{t-1} by the emission network.

    Same core and widths as :class:`RNN`; only the emission's output layer is wider (J * (1 + out)).
    Its likelihood is exact (:func:`sequence_nll`); ``forward`` and ``sample`` are the RNN's."""

    def __init__(self, config: RecurrentConfig, components: int = 3):
        checks.integer(components, "components", "MDNRNN", fix="one mixture component per mode of the next step")
        nn.Module.__init__(self)
        self.components = components
        self._build(config, _MixtureOutput(config, components))


class VRNN(nn.Module):
    """The variational RNN (Chung et al. 2015) with a learned prior p(z_t | h_{t-1}) (``prior="learned"``,
    the VRNN) or a fixed N(0, I) prior at every step (``prior="fixed"``, the VRNN-I)."""

    def __init__(self, config: RecurrentConfig, prior: str = "learned"):
        super().__init__()
        if prior not in {"learned", "fixed"}:
            raise ValueError(f"prior must be 'learned' or 'fixed', got {prior!r}.")
        if not isinstance(config, RecurrentConfig):
            checks.fail("VRNN", "config", "a RecurrentConfig", checks.describe(config), kind=TypeError)
        self.config = config
        self.prior_kind = prior
        c = config
        self.phi_x = mlp([c.x_dim, c.hidden, c.hidden], "relu")  # (B, D) -> (B, H)
        self.phi_z = mlp([c.z_dim, c.hidden, c.hidden], "relu")  # (B, k) -> (B, H)
        self.encoder = _head(c.hidden + c.h_dim, c.hidden, 2 * c.z_dim)  # [phi_x, h] -> (mu_z, logvar_z)
        self.decoder = _head(c.hidden + c.h_dim, c.hidden, c.out_dim)  # [phi_z, h] -> output params
        self.prior = _head(c.h_dim, c.hidden, 2 * c.z_dim) if prior == "learned" else None  # h -> (mu_0, logvar_0)
        self.cell = nn.GRUCell(2 * c.hidden, c.h_dim)
        self.output = _Output(c)
        self.register_forward_pre_hook(_forward_pre_check, with_kwargs=True)

    def prior_params(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu_0, logvar_0) of p(z_t | h_{t-1}), each (B, k); zeros for the fixed prior."""
        if self.prior is None:
            zeros = h.new_zeros(h.shape[0], self.config.z_dim)
            return zeros, zeros
        mu, logvar = self.prior(h).chunk(2, -1)
        return mu, logvar

    def _kl(self, mu_q, logvar_q, mu_p, logvar_p) -> torch.Tensor:
        if self.prior is None:
            return gaussian_kl(mu_q, logvar_q).sum(-1)  # KL to N(0, I), (B,)
        return gaussian_kl_diag(mu_q, logvar_q, mu_p, logvar_p).sum(-1)  # (B,)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> StepTerms:
        """One pass with one reparameterized z_t per step, drawn from q and fed to the recurrence.

        x (B, T, D) -> StepTerms of (B, T) each. The ELBO of Chung et al. (eq. 10) is
        sum_t (log_px - kl); the importance weight of the whole sequence is sum_t log_w.
        """
        B, T, _ = x.shape
        fx = self.phi_x(x)  # (B, T, H)
        h = x.new_zeros(B, self.config.h_dim)
        log_px, kl, log_w = [], [], []
        for t in range(T):
            mu_p, lv_p = self.prior_params(h)  # (B, k) each
            mu_q, lv_q = self.encoder(torch.cat([fx[:, t], h], -1)).chunk(2, -1)  # (B, k) each
            z = reparameterize(mu_q, lv_q, generator)  # (B, k)
            fz = self.phi_z(z)  # (B, H)
            lp = self.output.log_prob(x[:, t], self.decoder(torch.cat([fz, h], -1)))  # (B,)
            log_px.append(lp)
            kl.append(self._kl(mu_q, lv_q, mu_p, lv_p))
            log_w.append(lp + gaussian_log_prob(z, mu_p, lv_p) - gaussian_log_prob(z, mu_q, lv_q))
            h = self.cell(torch.cat([fx[:, t], fz], -1), h)  # never detached: full BPTT
        return StepTerms(torch.stack(log_px, 1), torch.stack(kl, 1), torch.stack(log_w, 1))

    @torch.no_grad()
    def sample(self, n: int, length: int, generator: torch.Generator | None = None,
               prefix: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Ancestral samples: z_t ~ p(z_t | h_{t-1}), x_t ~ p(x_t | z_t, h_{t-1}). Returns the samples
        (n, T, D) and the decoder means they were drawn around (n, T, D).

        With ``prefix`` (n, t0, D), the first t0 steps are the given ones and their z_t are drawn from the
        encoder q(z_t | x_t, h_{t-1}) (a continuation of the prefix)."""
        _check_sample(self, n, length, generator, prefix, "VRNN.sample")
        device = next(self.parameters()).device
        h = torch.zeros(n, self.config.h_dim, device=device)
        xs, means = [], []
        for t in range(length):
            given = prefix is not None and t < prefix.shape[1]
            if given:
                x_t = prefix[:, t].to(device)
                fx = self.phi_x(x_t)
                mu, lv = self.encoder(torch.cat([fx, h], -1)).chunk(2, -1)
            else:
                mu, lv = self.prior_params(h)
            z = reparameterize(mu, lv, generator)
            fz = self.phi_z(z)
            params = self.decoder(torch.cat([fz, h], -1))
            if not given:
                x_t = self.output.sample(params, generator)
                fx = self.phi_x(x_t)
            xs.append(x_t)
            means.append(self.output.mean(params))
            h = self.cell(torch.cat([fx, fz], -1), h)
        return torch.stack(xs, 1), torch.stack(means, 1)


def sequence_nll(model: RNN, x: torch.Tensor) -> torch.Tensor:
    """The RNN's exact negative log-likelihood per sequence, nats: (B, T, D) -> (B,)."""
    return -model(x).log_px.sum(1)


def rnn_loss(model: RNN, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Exact NLL, summed over steps (nats per sequence), mean over the batch."""
    return sequence_nll(model, x).mean()


def mdn_rnn_loss(model: MDNRNN, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The MDN-RNN's exact NLL (Graves 2013, eq. 26: sum_t -log sum_j pi_j^t p_j(x_t | h_{t-1}), without the
    end-of-stroke term), summed over steps (nats per sequence), mean over the batch."""
    if not isinstance(model, MDNRNN):
        checks.fail("mdn_rnn_loss", "model", "an MDNRNN", checks.describe(model), kind=TypeError)
    return sequence_nll(model, x).mean()


def vrnn_elbo(model: VRNN, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """ELBO per sequence (Chung et al. 2015, eq. 10), one sample of z_{1:T}, closed-form KL per step:

        sum_t E_q[ log p(x_t | z_<=t, x_<t) - KL(q(z_t | x_<=t, z_<t) || p(z_t | x_<t, z_<t)) ].

    (B, T, D) -> (B,), nats. A lower bound on log p(x_{1:T}), never an NLL."""
    terms = model(x, generator)
    return (terms.log_px - terms.kl).sum(1)


def vrnn_loss(model: VRNN, x: torch.Tensor, generator: torch.Generator | None = None, beta: float = 1.0) -> torch.Tensor:
    """Negative ELBO, nats per sequence, mean over the batch. ``beta`` < 1 down-weights the KL terms
    (used only during the warm-up of :class:`KLWarmup`; beta = 1 is the ELBO)."""
    checks.number(beta, "beta", "vrnn_loss", minimum=0, fix="beta = 1 is the ELBO; KLWarmup raises it to 1")
    terms = model(x, generator)
    return -(terms.log_px - beta * terms.kl).sum(1).mean()


class KLWarmup:
    """A loss function for :func:`aevae.train.fit`: the negative ELBO with the KL weight rising linearly
    from ``1/steps`` to 1 over the first ``steps`` calls, then exactly the ELBO (Bowman et al. 2016).

    Without it the latent models first settle where the decoder ignores z (the RNN's unimodal
    solution) and leave it only after many more steps. Each call is one optimiser step."""

    def __init__(self, steps: int):
        checks.integer(steps, "steps", "KLWarmup", minimum=0, fix="steps must be a non-negative int")
        self.steps = steps
        self.calls = 0

    @property
    def beta(self) -> float:
        """The KL weight the next call uses."""
        return 1.0 if self.steps == 0 else min(1.0, (self.calls + 1) / self.steps)

    def __call__(self, model: VRNN, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        beta = self.beta
        self.calls += 1
        return vrnn_loss(model, x, generator, beta)


@torch.no_grad()
def vrnn_iwae_bound(model: VRNN, x: torch.Tensor, k: int, generator: torch.Generator | None = None,
                    chunk: int = 50) -> torch.Tensor:
    """The importance-weighted bound (Burda et al. 2015, eq. 8) over whole sequences:

        L_k(x) = log (1/k) sum_i prod_t p(x_t | z_t^i, h_{t-1}^i) p(z_t^i | h_{t-1}^i) / q(z_t^i | x_t, h_{t-1}^i),

    with k particles z_{1:T}^i drawn from q, each through its own hidden-state path h_t^i (the sequence is
    repeated k times and run forward; no resampling). L_1 is the ELBO in expectation; L_k rises with k
    towards log p(x_{1:T}). ``chunk`` particles at a time bound memory. (B, T, D) -> (B,), nats.
    """
    checks.integer(k, "k", "vrnn_iwae_bound", fix="k = 1 is the ELBO")
    checks.integer(chunk, "chunk", "vrnn_iwae_bound")
    _check_sequences(model, x, "x", "vrnn_iwae_bound")
    B = x.shape[0]
    log_w = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        xr = x.unsqueeze(0).expand(n, *x.shape).reshape(n * B, *x.shape[1:])  # (n*B, T, D), particle-major
        log_w.append(model(xr, generator).log_w.sum(1).reshape(n, B))  # (n, B)
    log_w = torch.cat(log_w, 0)  # (k, B)
    return torch.logsumexp(log_w, 0) - math.log(k)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
