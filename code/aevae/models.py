"""The networks every chapter shares: one MLP body, two encoder heads, one decoder, one prior.

The autoencoder (AE) and the VAE are built from the same :class:`NetConfig`, the same encoder body
and the same decoder; they differ only in the encoder's head (a point ``z`` vs a mean and a
log-variance) and in the objective (see :mod:`aevae.objectives`). That keeps the book's AE-vs-VAE
comparison fair.

Shapes: B = batch, D = data dimension (784), k = latent dimension.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from . import checks

__all__ = [
    "NetConfig",
    "mlp",
    "Encoder",
    "GaussianEncoder",
    "Decoder",
    "StandardNormalPrior",
    "Autoencoder",
    "VAE",
    "AEOutput",
    "VAEOutput",
    "reparameterize",
    "draw",
]

_DIVERGED = ("if they come from a model, its weights are no longer finite (training diverged: lower the "
             "learning rate or set grad_clip)")


def _randn(shape, generator: torch.Generator | None, device=None, dtype=None) -> torch.Tensor:
    """Standard normal draws; a CPU generator also serves a model on a GPU (draw, then move)."""
    checks.generator(generator, "sampling")
    where = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=where, dtype=dtype).to(device)


_ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "identity": nn.Identity}


@dataclass(frozen=True)
class NetConfig:
    """Architecture shared by the AE and the VAE (chapters 2-6)."""

    input_dim: int = 784
    hidden: tuple[int, ...] = (512, 256)
    latent_dim: int = 16
    activation: str = "relu"  # "identity" with hidden=() gives the linear AE of chapter 2
    output: str = "sigmoid"  # AE output nonlinearity: "sigmoid" for images in [0, 1], "identity" for linear

    def __post_init__(self) -> None:
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {self.activation!r}.")
        if self.output not in {"sigmoid", "identity"}:
            raise ValueError(f"output must be 'sigmoid' or 'identity', got {self.output!r}.")
        for name in ("input_dim", "latent_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if not isinstance(self.hidden, (tuple, list)) or any(
                isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ValueError(f"hidden sizes must be positive ints, got {self.hidden!r}.")


def mlp(sizes: list[int], activation: str = "relu", last_activation: bool = True) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``, with ``activation`` after each (optionally not the last)."""
    if activation not in _ACTIVATIONS:
        checks.fail("mlp", "activation", f"one of {sorted(_ACTIVATIONS)}", repr(activation))
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__") or len(sizes) < 1:
        checks.fail("mlp", "sizes", "a non-empty list of layer widths", checks.describe(sizes),
                    "e.g. mlp([784, 512, 256])", TypeError)
    for size in sizes:
        checks.integer(size, "every entry of sizes", "mlp")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if last_activation or i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """Deterministic encoder: x (B, D) -> z (B, k). The AE's encoder."""

    def __init__(self, config: NetConfig, out_features: int | None = None):
        super().__init__()
        self.config = config
        sizes = [config.input_dim, *config.hidden]
        self.body = mlp(sizes, config.activation)  # (B, D) -> (B, H)
        self.head = nn.Linear(sizes[-1], out_features or config.latent_dim)

    def _input(self, x) -> torch.Tensor:
        """x checked and, for image batches (B, s, s) or (B, 1, s, s), flattened to (B, D) (a view)."""
        where = "the encoder (model.encode(x), model(x))"
        x = checks.batch(x, self.config.input_dim, "x", where)
        _same_dtype_device(x, self.head.weight, "x", where)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self._input(x)))  # (B, k)


class GaussianEncoder(Encoder):
    """q(z | x) = N(mu(x), diag(exp(logvar(x)))). Same body as :class:`Encoder`, a head twice as wide."""

    def __init__(self, config: NetConfig):
        super().__init__(config, out_features=2 * config.latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.body(self._input(x))).chunk(2, dim=-1)  # (B, k), (B, k)
        return mu, logvar

    @staticmethod
    def log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """log q(z | x) at a given ``z``, summed over the latent dimensions: (..., k) -> (...).

        This form is a function of (mu, logvar) at fixed z, as the score-function gradient needs. Where z
        was drawn as mu + sigma * eps, :meth:`log_prob_eps` gives the same value from eps, exactly and
        without dividing by sigma^2 (which underflows when sigma is tiny)."""
        where = "GaussianEncoder.log_prob"
        for name, t in (("z", z), ("mu", mu), ("logvar", logvar)):
            checks.tensor(t, name, where, dims="(..., k)")
        checks.broadcastable(z, mu, "z and mu", where)
        checks.broadcastable(mu, logvar, "mu and logvar", where)
        return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu) ** 2 / logvar.exp()).sum(-1)

    @staticmethod
    def log_prob_eps(eps: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """log q(z | x) for z = mu + exp(logvar / 2) * eps, from the standard-normal draw ``eps`` that made z:

            log q(z | x) = -1/2 sum_j (log 2 pi + logvar_j + eps_j^2),

        since (z - mu) / sigma = eps. Exact (no z - mu cancellation, no division by sigma^2) and finite for
        any finite eps and logvar, however small sigma is. (..., k) -> (...)."""
        where = "GaussianEncoder.log_prob_eps"
        checks.tensor(eps, "eps", where, dims="(..., k)")
        checks.tensor(logvar, "logvar", where, dims="(..., k)")
        checks.broadcastable(eps, logvar, "eps and logvar", where)
        return -0.5 * (math.log(2 * math.pi) + logvar + eps**2).sum(-1)


class Decoder(nn.Module):
    """z (B, k) -> (B, D) pre-activations: Bernoulli logits for the VAE, or passed through the AE's
    output nonlinearity."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        sizes = [config.latent_dim, *reversed(config.hidden), config.input_dim]
        self.net = mlp(sizes, config.activation, last_activation=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        where = "the decoder (model.decode(z))"
        checks.last_dim(z, self.config.latent_dim, "z", where, "(..., B, k)")
        _same_dtype_device(z, self.net[0].weight, "z", where)
        return self.net(z)  # (B, D)


class StandardNormalPrior(nn.Module):
    """p(z) = N(0, I_k)."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """(..., k) -> (...)."""
        checks.last_dim(z, self.latent_dim, "z", "StandardNormalPrior.log_prob")
        return -0.5 * (math.log(2 * math.pi) + z**2).sum(-1)

    def sample(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        checks.integer(n, "n", "StandardNormalPrior.sample")
        return _randn((n, self.latent_dim), generator, device)  # (n, k)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The reparameterization trick (Kingma & Welling 2013, eq. 10): z = mu + sigma * eps, eps ~ N(0, I).

    The randomness is in ``eps``, outside the parameters, so gradients flow through ``mu`` and ``sigma``.
    """
    _check_posterior(mu, logvar, "reparameterize")
    eps = _randn(mu.shape, generator, mu.device, mu.dtype)
    return mu + (0.5 * logvar).exp() * eps


def draw(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`reparameterize` that also returns the standard-normal ``eps`` it drew: (z, eps), z = mu +
    exp(logvar / 2) * eps, the same z as ``reparameterize`` for the same generator state. With eps,
    log q(z | x) is :meth:`GaussianEncoder.log_prob_eps`."""
    _check_posterior(mu, logvar, "draw")
    eps = _randn(mu.shape, generator, mu.device, mu.dtype)
    return mu + (0.5 * logvar).exp() * eps, eps


def _check_posterior(mu, logvar, where: str) -> None:
    checks.tensor(mu, "mu", where, dims="(..., k)", check_finite=False)
    checks.tensor(logvar, "logvar", where, dims="(..., k)", check_finite=False)
    checks.same_shape(mu, logvar, "mu and logvar", where, "pass the two halves of the encoder's output")
    checks.finite(mu, "mu", where, f"pass finite values; {_DIVERGED}")
    checks.finite(logvar, "logvar", where, f"pass finite values; {_DIVERGED}")


def _same_dtype_device(x: torch.Tensor, weight: torch.Tensor, name: str, where: str) -> None:
    """x has the dtype and device of the module's weights (else torch's 'mat1 and mat2' error)."""
    if x.dtype != weight.dtype:
        checks.fail(where, name, f"a {str(weight.dtype).replace('torch.', '')} tensor like the model's weights",
                    checks.describe(x), f"{name}.to({weight.dtype}) (or convert the model)", TypeError)
    if x.device != weight.device:
        checks.fail(where, name, f"on the model's device ({weight.device})", f"a tensor on {x.device}",
                    f"{name}.to({str(weight.device)!r})")


class AEOutput(NamedTuple):
    z: torch.Tensor  # (B, k)
    x_hat: torch.Tensor  # (B, D)


class VAEOutput(NamedTuple):
    z: torch.Tensor  # (B, k) one reparameterized draw
    mu: torch.Tensor  # (B, k)
    logvar: torch.Tensor  # (B, k)
    logits: torch.Tensor  # (B, D) decoder output for z


class Autoencoder(nn.Module):
    """x -> z = encoder(x) -> x_hat = output(decoder(z))."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decoder(z)
        return torch.sigmoid(out) if self.config.output == "sigmoid" else out

    def forward(self, x: torch.Tensor) -> AEOutput:
        z = self.encode(x)
        return AEOutput(z, self.decode(z))


class VAE(nn.Module):
    """Encoder q(z|x), decoder p(x|z) (Bernoulli logits unless the objective says otherwise), prior p(z).

    ``forward`` draws one z per input with the reparameterization trick.
    """

    def __init__(self, config: NetConfig, prior: nn.Module | None = None):
        super().__init__()
        self.config = config
        self.encoder = GaussianEncoder(config)
        self.decoder = Decoder(config)
        self.prior = prior if prior is not None else StandardNormalPrior(config.latent_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder logits (B, D); ``torch.sigmoid`` of them is the Bernoulli mean image."""
        return self.decoder(z)

    reparameterize = staticmethod(reparameterize)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, generator)
        return VAEOutput(z, mu, logvar, self.decode(z))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean images sigmoid(decoder(z)) for z drawn from the prior, (n, D)."""
        checks.integer(n, "n", "VAE.sample")
        device = next(self.parameters()).device
        z = self.prior.sample(n, generator=generator, device=device)
        return torch.sigmoid(self.decode(z))
