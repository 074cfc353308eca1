"""What chapter 4 measures on a trained VAE: honest likelihoods, the units it uses, and a second decoder.

- :func:`binarized_entropy`: the floor of the expected negative log-likelihood of dynamically
  binarized images — no model of binary images can do better on average.
- :func:`importance_weighted_bound` and :func:`iwae_in_batches`: the bound of Burda et al. (2015)
  for any decoder likelihood (Bernoulli or Gaussian), in batches of images, with a progress bar.
- :func:`active_units`, :func:`kl_per_unit`, :func:`ablate_units`: which latent dimensions carry
  information (Burda et al. 2015, section 5.2) and what happens to the output when the others are
  replaced.
- :class:`GaussianVAE`, :func:`gaussian_elbo`, :func:`gaussian_vae_loss`, :func:`dequantize`,
  :func:`bits_per_dim`: a VAE whose decoder is a Gaussian with a learned scale on continuous
  (dequantized) grey levels, for the comparison of decoder likelihoods.

Conventions as in :mod:`aevae.objectives`: log-likelihoods and KLs summed over pixels and latents
(nats per image), losses averaged over the batch. Shapes: N images, B batch, S samples, k latents,
D pixels.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .book import progress
from .models import VAE, NetConfig
from .objectives import ELBOTerms, decoder_log_prob, gaussian_kl, gaussian_log_prob, iwae_bound

__all__ = [
    "binarized_entropy",
    "dequantize",
    "bits_per_dim",
    "GaussianVAE",
    "log_likelihood",
    "gaussian_elbo",
    "gaussian_vae_loss",
    "importance_weighted_bound",
    "iwae_in_batches",
    "decoded_mean",
    "active_units",
    "kl_per_unit",
    "AblationEffect",
    "ablate_units",
]


# ---------------------------------------------------------------------------------------------
# The floor for binarized data
# ---------------------------------------------------------------------------------------------

def binarized_entropy(images: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of the binarized draws of each grey image, (N, D) -> (N,).

    Dynamic binarization turns an image with grey levels p_i into independent Bernoulli(p_i) pixels,
    whose entropy is sum_i H(p_i), H(p) = -p log p - (1 - p) log(1 - p) (0 log 0 = 0). For any model q
    of binary images, E_{x ~ Bern(p)}[-log q(x)] >= sum_i H(p_i) (Gibbs' inequality), so the mean of
    this over test images is a floor for the model's expected test NLL on binarized draws.
    """
    if images.min() < 0 or images.max() > 1:
        raise ValueError("binarized_entropy expects intensities in [0, 1].")
    p = images.double()
    h = -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p))  # (N, D) nats per pixel
    return h.sum(-1)


# ---------------------------------------------------------------------------------------------
# A Gaussian decoder on continuous grey levels
# ---------------------------------------------------------------------------------------------

def dequantize(images: torch.Tensor, generator: torch.Generator | None = None, levels: int = 256) -> torch.Tensor:
    """Uniform dequantization of 8-bit images given in [0, 1] (value = level / 255):
    y = (level + u) / levels with u ~ U(0, 1), so y fills [0, 1) and a density on y bounds the
    probability of the discrete image (Theis et al. 2016)."""
    level = torch.round(images * (levels - 1))  # (N, D) integers 0..levels-1
    u = torch.rand(images.shape, generator=generator, dtype=images.dtype).to(images.device)
    return (level + u) / levels


def bits_per_dim(nll_nats: torch.Tensor | float, dim: int, levels: int = 256) -> torch.Tensor | float:
    """Convert a negative log-*density* on [0, 1]^D of dequantized data (nats per image) into an upper
    bound on the negative log-probability of the discrete ``levels``-level image, in bits per pixel:
    (nll + D log levels) / (D log 2)."""
    return (nll_nats + dim * math.log(levels)) / (dim * math.log(2))


class GaussianVAE(VAE):
    """The VAE with p(x | z) = N(sigmoid(decoder(z)), sigma^2 I): the same networks as :class:`VAE`
    (the decoder's output goes through the same sigmoid as the AE's) plus one learned scalar,
    ``log_scale`` = log sigma, shared by all pixels."""

    def __init__(self, config: NetConfig, init_scale: float = 1.0):
        super().__init__(config)
        if not init_scale > 0:
            raise ValueError(f"init_scale must be positive, got {init_scale!r}.")
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) summed over pixels: x (B, D), z (..., B, k) -> (..., B)."""
        mean = torch.sigmoid(self.decode(z))  # (..., B, D)
        return gaussian_log_prob(x, mean, 2 * self.log_scale)


# log p(x | z) for either decoder, and the importance-weighted bound built on it, live in objectives.
log_likelihood = decoder_log_prob


def gaussian_elbo(model: GaussianVAE, x: torch.Tensor, generator: torch.Generator | None = None) -> ELBOTerms:
    """ELBO(x) = E_q[log N(x; sigmoid(f(z)), sigma^2 I)] - KL(q(z|x) || p(z)), one reparameterized
    sample, nats per image (a log-*density* of continuous pixels: it can be positive)."""
    out = model(x, generator=generator)
    log_px_z = gaussian_log_prob(x, torch.sigmoid(out.logits), 2 * model.log_scale)  # (B,)
    kl = gaussian_kl(out.mu, out.logvar)  # (B, k)
    return ELBOTerms(log_px_z - kl.sum(-1), log_px_z, kl)


def gaussian_vae_loss(model: GaussianVAE, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """-ELBO with the Gaussian decoder, mean over the batch (a scalar) — the ``loss_fn`` for ``fit``."""
    return -gaussian_elbo(model, x, generator).elbo.mean()


# ---------------------------------------------------------------------------------------------
# Importance-weighted bound for any decoder
# ---------------------------------------------------------------------------------------------

importance_weighted_bound = iwae_bound  # for any decoder likelihood (Burda et al. 2015, eq. 8)


@torch.no_grad()
def iwae_in_batches(model: VAE, x: torch.Tensor, k: int, generator: torch.Generator | None = None,
                    batch_size: int = 100, chunk: int = 250, desc: str | None = None) -> torch.Tensor:
    """:func:`importance_weighted_bound` over ``x`` (N, D) in batches of images (memory is about
    ``chunk * batch_size * D`` floats), with a progress bar. Returns (N,) on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    starts = range(0, x.shape[0], batch_size)
    for i in progress(starts, desc=desc or f"IWAE k={k}"):
        out.append(importance_weighted_bound(model, x[i : i + batch_size].to(device), k, generator, chunk).cpu())
    return torch.cat(out)


# ---------------------------------------------------------------------------------------------
# Codes: decoded means, active units, KL per unit, ablations
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def decoded_mean(model: VAE, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """The VAE's reconstruction of ``x``: the decoder's mean image at the posterior mean,
    sigmoid(decoder(mu(x))), (N, D) — the deterministic counterpart of the AE's x_hat."""
    model.eval()
    device = next(model.parameters()).device
    outs = []
    for i in range(0, x.shape[0], batch_size):
        mu, _ = model.encode(x[i : i + batch_size].to(device))
        outs.append(torch.sigmoid(model.decode(mu)).cpu())
    return torch.cat(outs)


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """Activity A_u = Cov_x(E_{q(z|x)}[z_u]) of each latent unit over the images whose posterior means
    are the rows of ``mu`` (N, k), and the mask A_u > ``threshold`` (Burda et al. 2015 use 0.01).
    Returns (activity (k,), active (k,) bool). The variance uses the 1/(N-1) normaliser."""
    if mu.ndim != 2 or mu.shape[0] < 2:
        raise ValueError(f"mu must be (N, k) with N >= 2, got {tuple(mu.shape)}.")
    activity = mu.double().var(0)  # (k,)
    return activity, activity > threshold


@torch.no_grad()
def kl_per_unit(model: VAE, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """KL(q(z_u | x) || N(0, 1)) of each latent unit, averaged over the images ``x``, (k,) in nats.
    Their sum is the average KL term of the ELBO."""
    model.eval()
    device = next(model.parameters()).device
    total, n = None, 0
    for i in range(0, x.shape[0], batch_size):
        mu, logvar = model.encode(x[i : i + batch_size].to(device))
        kl = gaussian_kl(mu, logvar).double().sum(0).cpu()  # (k,)
        total = kl if total is None else total + kl
        n += mu.shape[0]
    return total / n


class AblationEffect(NamedTuple):
    units: tuple[int, ...]  # the latent dimensions replaced
    mode: str  # "prior" (fresh N(0, 1) draws) or "zero"
    delta_log_px: float  # mean over images of log p(x | mu) - log p(x | mu ablated), nats per image
    image_mse: float  # mean squared change per pixel of the decoded mean image


@torch.no_grad()
def ablate_units(model: VAE, x: torch.Tensor, units, mode: str = "prior",
                 generator: torch.Generator | None = None) -> AblationEffect:
    """Decode the posterior mean mu(x) with the latent ``units`` replaced by prior draws (``mode="prior"``)
    or zeros (``"zero"``), and measure how much the decoder's output changes: the drop in log p(x | z)
    (the model's own likelihood of ``x``; nats per image, positive = worse) and the mean squared change
    of the decoded mean image, per pixel. A unit the decoder ignores changes neither."""
    if mode not in {"prior", "zero"}:
        raise ValueError(f"mode must be 'prior' or 'zero', got {mode!r}.")
    units = tuple(int(u) for u in torch.as_tensor(units, dtype=torch.long).reshape(-1).tolist())
    model.eval()
    device = next(model.parameters()).device
    x = x.to(device)
    mu, _ = model.encode(x)  # (N, k)
    if any(u < 0 or u >= mu.shape[1] for u in units):
        raise ValueError(f"units must lie in [0, {mu.shape[1]}), got {units}.")
    z = mu.clone()
    if units:
        idx = torch.tensor(units, device=device)
        if mode == "prior":
            z[:, idx] = torch.randn(mu.shape[0], len(units), generator=generator).to(device)
        else:
            z[:, idx] = 0.0
    base, abl = log_likelihood(model, x, mu), log_likelihood(model, x, z)  # (N,)
    img = ((torch.sigmoid(model.decode(mu)) - torch.sigmoid(model.decode(z))) ** 2).mean()
    return AblationEffect(units, mode, float((base - abl).mean()), float(img))
