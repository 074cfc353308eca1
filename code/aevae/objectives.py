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

from . import checks
from .models import VAE, Autoencoder, GaussianEncoder, draw

__all__ = [
    "decoder_log_prob",
    "output_log_prob",
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
    checks.tensor(x_hat, "x_hat", "mse_per_pixel", dims="(B, D)")
    checks.tensor(x, "x", "mse_per_pixel", dims="(B, D)")
    checks.same_shape(x_hat, x, "x_hat and x", "mse_per_pixel", "flatten both to (B, D): x.reshape(len(x), -1)")
    return ((x_hat - x) ** 2).mean(-1)


def ae_loss(model: Autoencoder, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The AE objective: MSE per pixel, mean over the batch (a scalar)."""
    x = checks.model_input(model, x, "ae_loss")
    return mse_per_pixel(model(x).x_hat, x).mean()


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ) per latent dimension, (B, k) -> (B, k).

    Closed form (Kingma & Welling 2013, appendix B): 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2).
    Sum over the last axis for the KL of the whole code.
    """
    checks.tensor(mu, "mu", "gaussian_kl", dims="(..., k)")
    checks.tensor(logvar, "logvar", "gaussian_kl", dims="(..., k)")
    checks.same_shape(mu, logvar, "mu and logvar", "gaussian_kl")
    return 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar)


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x | z) for a Bernoulli decoder, summed over pixels: (..., D) -> (...). x in {0, 1}
    (or in [0, 1], where it is the negative binary cross-entropy)."""
    where = "bernoulli_log_prob"
    checks.tensor(logits, "logits", where, dims="(..., D)")
    checks.tensor(x, "x", where, dims="(..., D)", check_finite=False)
    checks.broadcastable(x, logits, "x and logits", where, "x (B, D) against logits (..., B, D)")
    checks.in_range(x, "x", where, 0, 1, "a Bernoulli likelihood scores pixels in [0, 1] (binarize them, or "
                                         "divide 0-255 images by 255)")
    return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor | float) -> torch.Tensor:
    """log N(x; mean, diag(exp(logvar))), summed over the last axis: (..., D) -> (...)."""
    where = "gaussian_log_prob"
    checks.tensor(x, "x", where, dims="(..., D)")
    checks.tensor(mean, "mean", where, dims="(..., D)")
    checks.broadcastable(x, mean, "x and mean", where)
    if isinstance(logvar, torch.Tensor):
        checks.tensor(logvar, "logvar", where, dims="(..., D) or a scalar")
        if logvar.ndim:
            checks.broadcastable(mean, logvar, "mean and logvar", where)
    else:
        checks.number(logvar, "logvar", where)
    logvar = torch.as_tensor(logvar, dtype=mean.dtype, device=mean.device)
    return -0.5 * (math.log(2 * math.pi) + logvar + (x - mean) ** 2 / logvar.exp()).sum(-1)


class ELBOTerms(NamedTuple):
    elbo: torch.Tensor  # (B,) E_q[log p(x|z)] - KL(q(z|x) || p(z)), one-sample estimate, nats per image
    log_px_z: torch.Tensor  # (B,) reconstruction term
    kl: torch.Tensor  # (B, k) closed-form KL per latent dimension


def elbo(model: VAE, x: torch.Tensor, generator: torch.Generator | None = None) -> ELBOTerms:
    """ELBO(x) = E_{q(z|x)}[log p(x|z)] - KL(q(z|x) || p(z))  (Kingma & Welling 2013, eq. 7).

    One reparameterized sample for the expectation, the closed-form KL for N(0, I) priors, and the
    model's decoder likelihood (Bernoulli for a :class:`VAE`, Gaussian for a
    :class:`aevae.vae_eval.GaussianVAE`; :func:`output_log_prob`). Everything summed over
    pixels/latents: one value per image, in nats.
    """
    x = checks.model_input(model, x, "elbo")
    out = model(x, generator=generator)
    log_px_z = output_log_prob(model, x, out.logits)  # (B,)
    kl = gaussian_kl(out.mu, out.logvar)  # (B, k)
    return ELBOTerms(log_px_z - kl.sum(-1), log_px_z, kl)


def vae_loss(model: VAE, x: torch.Tensor, generator: torch.Generator | None = None, beta: float = 1.0) -> torch.Tensor:
    """-(E_q[log p(x|z)] - beta * KL), mean over the batch. beta = 1 is the VAE; beta > 1 the beta-VAE
    (Higgins et al. 2017), which only reweights the KL term."""
    checks.number(beta, "beta", "vae_loss", minimum=0, fix="beta = 1 is the VAE, beta > 1 a beta-VAE")
    terms = elbo(model, x, generator)
    return -(terms.log_px_z - beta * terms.kl.sum(-1)).mean()


def output_log_prob(model: VAE, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x | z) from the decoder's output ``logits`` = model.decode(z), summed over pixels: the
    model's own ``output_log_prob(x, logits)`` where it has one (e.g. the Gaussian of
    :class:`aevae.vae_eval.GaussianVAE`), else Bernoulli. x (B, D), logits (..., B, D) -> (..., B)."""
    own = getattr(model, "output_log_prob", None)
    if own is not None:
        return own(x, logits)
    return bernoulli_log_prob(x, logits)


def decoder_log_prob(model: VAE, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x | z) of the model's decoder, summed over pixels: the model's own ``log_likelihood(x, z)``
    where it has one, else :func:`output_log_prob` of the decoder's output (Bernoulli on the logits for a
    :class:`VAE`, Gaussian for :class:`aevae.vae_eval.GaussianVAE`). x (B, D), z (..., B, k) -> (..., B)."""
    x = checks.model_input(model, x, "decoder_log_prob")
    own = getattr(model, "log_likelihood", None)
    if own is not None:
        return own(x, z)
    return output_log_prob(model, x, model.decode(z))


@torch.no_grad()
def iwae_bound(
    model: VAE, x: torch.Tensor, k: int, generator: torch.Generator | None = None, chunk: int = 100
) -> torch.Tensor:
    """The importance-weighted bound (Burda et al. 2015, eq. 8), one value per image in nats:

        L_k(x) = log (1/k) sum_i p(x, z_i) / q(z_i | x),  z_i ~ q(z | x).

    L_1 is the ELBO; L_k increases with k towards log p(x). p(x | z) is the model's decoder likelihood
    (:func:`decoder_log_prob`). ``chunk`` samples are drawn at a time to bound memory. (B, D) -> (B,).
    """
    checks.integer(k, "k", "iwae_bound", fix="k = 1 is the ELBO; the book uses k up to 5000")
    checks.integer(chunk, "chunk", "iwae_bound")
    x = checks.model_input(model, x, "iwae_bound")
    mu, logvar = model.encode(x)  # (B, k_z)
    log_w = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        mu_s = mu.unsqueeze(0).expand(n, *mu.shape)  # (n, B, k_z)
        lv_s = logvar.unsqueeze(0).expand(n, *logvar.shape)
        z, eps = draw(mu_s, lv_s, generator)  # (n, B, k_z): the same draws as reparameterize
        log_q = GaussianEncoder.log_prob_eps(eps, lv_s)  # (n, B) exact, from the eps that drew z
        lw = decoder_log_prob(model, x, z) + model.prior.log_prob(z) - log_q
        log_w.append(lw)  # (n, B)
    log_w = torch.cat(log_w, 0)  # (k, B)
    return torch.logsumexp(log_w, 0) - math.log(k)
