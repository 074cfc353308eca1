"""A density learned on the codes afterwards: the second stage of Dai & Wipf's two-stage VAE (2019).

Chapter 5 fits Gaussians and Gaussian mixtures to a trained model's codes. This module *learns* one
instead: a small VAE whose data are the first model's 16-d codes, with a Gaussian decoder and one learned
variance :math:`\\gamma^2` (Dai & Wipf, "Diagnosing and enhancing VAE models", ICLR 2019, section 4).
Sampling draws :math:`u \\sim \\mathcal N(0, I)` in the second stage's latent space, decodes it to a code, and
the first model decodes that code to an image — latent diffusion's recipe (Rombach et al. 2022) in
miniature, with a VAE where they use a diffusion model.

- :class:`CodeVAEConfig`, :class:`CodeVAE` — the second-stage network, with ``encode`` / ``decode`` /
  ``sample`` like the book's :class:`aevae.models.VAE`;
- :func:`code_vae_loss` — its negative ELBO (sum over code dimensions, mean over the batch);
- :func:`fit_second_stage` — standardise the codes, train the second stage with
  :func:`aevae.train.fit`, and return a :class:`SecondStage` that samples codes in the first model's units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import checks
from .models import mlp, reparameterize
from .objectives import gaussian_kl, gaussian_log_prob
from .train import History, TrainConfig, fit

__all__ = ["CodeVAEConfig", "CodeVAE", "code_vae_loss", "SecondStage", "fit_second_stage"]


@dataclass(frozen=True)
class CodeVAEConfig:
    dim: int = 16  # the first stage's code size k
    hidden: tuple[int, ...] = (128, 128)
    latent_dim: int = 16  # Dai & Wipf keep the second stage's latent size equal to k


class CodeVAE(nn.Module):
    """q(u | z) = N(mu(z), diag(exp(logvar(z)))), p(u) = N(0, I), p(z | u) = N(g(u), gamma^2 I) on codes z."""

    def __init__(self, config: CodeVAEConfig = CodeVAEConfig()):
        super().__init__()
        self.config = config
        self.encoder = nn.Sequential(mlp([config.dim, *config.hidden]), nn.Linear(config.hidden[-1], 2 * config.latent_dim))
        self.decoder = nn.Sequential(mlp([config.latent_dim, *config.hidden]), nn.Linear(config.hidden[-1], config.dim))
        self.log_gamma = nn.Parameter(torch.zeros(()))  # learned, shared by all code dimensions

    def encode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(z).chunk(2, dim=-1)  # (B, m), (B, m)
        return mu, logvar

    def decode(self, u: torch.Tensor) -> torch.Tensor:
        return self.decoder(u)  # (B, k): the mean code

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` decoded means g(u), u ~ N(0, I): (n, k). Like Dai & Wipf, the mean, not a noisy draw."""
        checks.integer(n, "n", "CodeVAE.sample")
        checks.generator(generator, "CodeVAE.sample")
        u = torch.randn(n, self.config.latent_dim, generator=generator)  # (n, m)
        return self.decode(u)


def code_vae_loss(model: CodeVAE, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """-ELBO of the second stage, mean over the batch: -E_q log N(z; g(u), gamma^2 I) + KL(q(u|z) || N(0, I)),
    each summed over the code's dimensions (Dai & Wipf 2019, eq. 1 with a learned gamma)."""
    mu, logvar = model.encode(z)  # (B, m)
    u = reparameterize(mu, logvar, generator)  # (B, m)
    log_pz_u = gaussian_log_prob(z, model.decode(u), 2 * model.log_gamma)  # (B,)
    return (-log_pz_u + gaussian_kl(mu, logvar).sum(-1)).mean()


@dataclass
class SecondStage:
    """A trained second stage and the standardisation of the codes it was trained on."""

    model: CodeVAE
    mean: torch.Tensor  # (k,)
    std: torch.Tensor  # (k,)
    history: History

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes in the first model's units, (n, k)."""
        self.model.eval()
        return self.model.sample(n, generator) * self.std + self.mean

    @property
    def gamma(self) -> float:
        """The learned decoder standard deviation, in standardised code units."""
        return float(self.model.log_gamma.detach().exp())


def fit_second_stage(z_train: torch.Tensor, train: TrainConfig = TrainConfig(epochs=30, batch_size=128, lr=1e-3),
                     config: CodeVAEConfig | None = None, init_seed: int = 0) -> SecondStage:
    """Train a :class:`CodeVAE` on the codes ``z_train`` (N, k), standardised per dimension, with
    :func:`aevae.train.fit` (``train.seed`` seeds the batches and the reparameterization draws,
    ``init_seed`` the initial weights). Stops with a clear error on a non-finite loss, like every training."""
    where = "fit_second_stage"
    z_train = checks.tensor(z_train, "z_train", where, ndim=2, dims="(N, k)")
    if z_train.shape[0] < 2:
        checks.fail(where, "z_train", "at least two codes", f"{z_train.shape[0]}")
    config = config or CodeVAEConfig(dim=z_train.shape[1], latent_dim=z_train.shape[1])
    if config.dim != z_train.shape[1]:
        checks.fail(where, "config.dim", f"the codes' size {z_train.shape[1]}", str(config.dim),
                    "CodeVAEConfig(dim=z_train.shape[1])")
    checks.integer(init_seed, "init_seed", where, minimum=0)
    z_train = z_train.float()
    mean, std = z_train.mean(0), z_train.std(0).clamp_min(1e-6)  # (k,), (k,)
    torch.manual_seed(init_seed)
    model = CodeVAE(config)
    with torch.enable_grad():  # also when called under no_grad (aevae.knob.measure)
        history = fit(model, code_vae_loss, (z_train - mean) / std, train, device="cpu", desc="second stage")
    return SecondStage(model.eval(), mean, std, history)
