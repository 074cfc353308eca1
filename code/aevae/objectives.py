"""Objectives as pure functions.

Conventions (said once, used everywhere): log-likelihoods and KL terms are **summed** over pixels
and over latent dimensions, giving one number per image in nats; losses are the **mean over the
batch** of those per-image numbers. The AE's squared error is the exception: it is the mean over
pixels too (MSE per pixel), the unit chapter 1 reports PCA in.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .models import VAE, Autoencoder, GaussianEncoder, reparameterize

__all__ = [
    "decoder_log_prob",
    "mse_per_pixel",
    "ae_loss",
    "gaussian_kl",
    "bernoulli_log_prob",
    "gaussian_log_prob",
    "ELBOTerms",
    "elbo",
    "vae_loss",
    "iwae_bound",
]


def mse_per_pixel(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Squared error averaged over pixels: (B, D), (B, D) -> (B,)."""
    return ((x_hat - x) ** 2).mean(-1)


def ae_loss(model: Autoencoder, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The AE objective: MSE per pixel, mean over the batch (a scalar)."""
    return mse_per_pixel(model(x).x_hat, x).mean()


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ) per latent dimension, (B, k) -> (B, k).

    Closed form (Kingma & Welling 2013, appendix B): 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2).
    Sum over the last axis for the KL of the whole code.
    """
    return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar)


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x | z) for a Bernoulli decoder, summed over pixels: (..., D) -> (...). x in {0, 1}
    (or in [0, 1], where it is the negative binary cross-entropy)."""
    return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor | float) -> torch.Tensor:
    """log N(x; mean, diag(exp(logvar))), summed over the last axis: (..., D) -> (...)."""
    logvar = torch.as_tensor(logvar, dtype=mean.dtype, device=mean.device)
    return -0.5 * (math.log(2 * math.pi) + logvar + (x - mean) ** 2 / logvar.exp()).sum(-1)


class ELBOTerms(NamedTuple):
    elbo: torch.Tensor  # (B,) E_q[log p(x|z)] - KL(q(z|x) || p(z)), one-sample estimate, nats per image
    log_px_z: torch.Tensor  # (B,) reconstruction term
    kl: torch.Tensor  # (B, k) closed-form KL per latent dimension


def elbo(model: VAE, x: torch.Tensor, generator: torch.Generator | None = None) -> ELBOTerms:
    """ELBO(x) = E_{q(z|x)}[log p(x|z)] - KL(q(z|x) || p(z))  (Kingma & Welling 2013, eq. 7).

    One reparameterized sample for the expectation, the closed-form KL for N(0, I) priors, and a
    Bernoulli decoder. Everything summed over pixels/latents: one value per image, in nats.
    """
    out = model(x, generator=generator)
    log_px_z = bernoulli_log_prob(x, out.logits)  # (B,)
    kl = gaussian_kl(out.mu, out.logvar)  # (B, k)
    return ELBOTerms(log_px_z - kl.sum(-1), log_px_z, kl)


def vae_loss(model: VAE, x: torch.Tensor, generator: torch.Generator | None = None, beta: float = 1.0) -> torch.Tensor:
    """-(E_q[log p(x|z)] - beta * KL), mean over the batch. beta = 1 is the VAE; beta > 1 the beta-VAE
    (Higgins et al. 2017), which only reweights the KL term."""
    terms = elbo(model, x, generator)
    return -(terms.log_px_z - beta * terms.kl.sum(-1)).mean()


def decoder_log_prob(model: VAE, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x | z) of the model's decoder, summed over pixels: Bernoulli on the decoder's logits for a
    :class:`VAE`, the model's own ``log_likelihood(x, z)`` where it has one (e.g.
    :class:`aevae.vae_eval.GaussianVAE`). x (B, D), z (..., B, k) -> (..., B)."""
    own = getattr(model, "log_likelihood", None)
    if own is not None:
        return own(x, z)
    return bernoulli_log_prob(x, model.decode(z))


@torch.no_grad()
def iwae_bound(
    model: VAE, x: torch.Tensor, k: int, generator: torch.Generator | None = None, chunk: int = 100
) -> torch.Tensor:
    """The importance-weighted bound (Burda et al. 2015, eq. 8), one value per image in nats:

        L_k(x) = log (1/k) sum_i p(x, z_i) / q(z_i | x),  z_i ~ q(z | x).

    L_1 is the ELBO; L_k increases with k towards log p(x). p(x | z) is the model's decoder likelihood
    (:func:`decoder_log_prob`). ``chunk`` samples are drawn at a time to bound memory. (B, D) -> (B,).
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}.")
    mu, logvar = model.encode(x)  # (B, k_z)
    log_w = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        mu_s = mu.unsqueeze(0).expand(n, *mu.shape)  # (n, B, k_z)
        lv_s = logvar.unsqueeze(0).expand(n, *logvar.shape)
        z = reparameterize(mu_s, lv_s, generator)  # (n, B, k_z)
        lw = decoder_log_prob(model, x, z) + model.prior.log_prob(z) - GaussianEncoder.log_prob(z, mu_s, lv_s)
        log_w.append(lw)  # (n, B)
    log_w = torch.cat(log_w, 0)  # (k, B)
    return torch.logsumexp(log_w, 0) - math.log(k)
