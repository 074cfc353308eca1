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

from . import checks
from .book import progress
from .models import VAE, NetConfig
from .objectives import ELBOTerms, decoder_log_prob, elbo, gaussian_kl, gaussian_log_prob, iwae_bound

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
    checks.tensor(images, "images", "binarized_entropy", dims="(N, D)", check_finite=False)
    checks.in_range(images, "images", "binarized_entropy", 0, 1, "pass grey levels in [0, 1] (0-255 images / 255)")
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
    checks.tensor(images, "images", "dequantize", dims="(N, D)", check_finite=False)
    checks.in_range(images, "images", "dequantize", 0, 1, "pass grey levels in [0, 1] (0-255 images / 255)")
    checks.integer(levels, "levels", "dequantize", minimum=2)
    checks.generator(generator, "dequantize")
    level = torch.round(images * (levels - 1))  # (N, D) integers 0..levels-1
    u = torch.rand(images.shape, generator=generator, dtype=images.dtype).to(images.device)
    return (level + u) / levels


def bits_per_dim(nll_nats: torch.Tensor | float, dim: int, levels: int = 256) -> torch.Tensor | float:
    """Convert a negative log-*density* on [0, 1]^D of dequantized data (nats per image) into an upper
    bound on the negative log-probability of the discrete ``levels``-level image, in bits per pixel:
    (nll + D log levels) / (D log 2)."""
    checks.integer(dim, "dim", "bits_per_dim")
    checks.integer(levels, "levels", "bits_per_dim", minimum=2)
    if isinstance(nll_nats, torch.Tensor):
        checks.tensor(nll_nats, "nll_nats", "bits_per_dim", dims="of NLLs in nats")
    else:
        checks.number(nll_nats, "nll_nats", "bits_per_dim")
    return (nll_nats + dim * math.log(levels)) / (dim * math.log(2))


class GaussianVAE(VAE):
    """The VAE with p(x | z) = N(sigmoid(decoder(z)), sigma^2 I): the same networks as :class:`VAE`
    (the decoder's output goes through the same sigmoid as the AE's) plus one learned scalar,
    ``log_scale`` = log sigma, shared by all pixels."""

    def __init__(self, config: NetConfig, init_scale: float = 1.0):
        super().__init__(config)
        init_scale = checks.number(init_scale, "init_scale", "GaussianVAE", minimum=0, strict=True,
                                   fix="the pixels' initial standard deviation, e.g. 0.1")
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))

    def output_log_prob(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """log p(x | z) = log N(x; sigmoid(logits), sigma^2 I) summed over pixels, from the decoder's
        output ``logits`` = decode(z): x (B, D), logits (..., B, D) -> (..., B). What
        :func:`aevae.objectives.elbo` and ``vae_loss`` use for this model."""
        return gaussian_log_prob(x, torch.sigmoid(logits), 2 * self.log_scale)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) summed over pixels: x (B, D), z (..., B, k) -> (..., B)."""
        return self.output_log_prob(x, self.decode(z))  # decode(z): (..., B, D)


# log p(x | z) for either decoder, and the importance-weighted bound built on it, live in objectives.
log_likelihood = decoder_log_prob


def gaussian_elbo(model: GaussianVAE, x: torch.Tensor, generator: torch.Generator | None = None) -> ELBOTerms:
    """ELBO(x) = E_q[log N(x; sigmoid(f(z)), sigma^2 I)] - KL(q(z|x) || p(z)), one reparameterized
    sample, nats per image (a log-*density* of continuous pixels: it can be positive). The same as
    :func:`aevae.objectives.elbo`, which dispatches on the model's decoder; here the model must be a
    :class:`GaussianVAE`."""
    if not isinstance(model, GaussianVAE):
        checks.fail("gaussian_elbo", "model", "a GaussianVAE", checks.describe(model),
                    "use aevae.objectives.elbo for a Bernoulli VAE", TypeError)
    return elbo(model, x, generator)


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
    checks.integer(k, "k", "iwae_in_batches", fix="k = 1 is the ELBO; the book uses k up to 5000")
    checks.integer(batch_size, "batch_size", "iwae_in_batches")
    checks.integer(chunk, "chunk", "iwae_in_batches")
    x = checks.model_input(model, x, "iwae_in_batches")
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
    checks.integer(batch_size, "batch_size", "decoded_mean")
    x = checks.model_input(model, x, "decoded_mean")
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
    checks.tensor(mu, "mu", "active_units", ndim=2, dims="(N, k)")
    if mu.shape[0] < 2:
        checks.fail("active_units", "mu", "(N, k) with N >= 2", checks.describe(mu), "pass the posterior means of "
                    "at least two images")
    checks.number(threshold, "threshold", "active_units", minimum=0)
    activity = mu.double().var(0)  # (k,)
    return activity, activity > threshold


@torch.no_grad()
def kl_per_unit(model, x: torch.Tensor | None = None, batch_size: int = 2048) -> torch.Tensor:
    """KL(q(z_u | x) || N(0, 1)) of each latent unit, averaged over the images ``x``, (k,) float64 in nats.
    Their sum is the average KL term of the ELBO; a unit whose posterior equals the prior for every x has
    KL 0 and carries no information about x.

    ``model`` is a :class:`VAE`, and ``x`` (N, D) the images, encoded in batches; or a pool already encoded
    by :func:`aevae.disentangle.encode` (its posterior means and log-variances are used, ``x`` is omitted).
    The one implementation of the book (``aevae.disentangle.kl_per_unit`` is this function)."""
    where = "kl_per_unit"
    checks.integer(batch_size, "batch_size", where)
    if hasattr(model, "codes") and hasattr(model, "logvar"):  # an encoded pool (aevae.disentangle.Encoded)
        if model.logvar is None:
            checks.fail(where, "the encoded pool", "the encoding of a VAE (with a posterior log-variance)",
                        "the encoding of an autoencoder", "an autoencoder has no posterior, hence no KL per unit",)
        if x is not None:
            checks.fail(where, "x", "omitted for an encoded pool", checks.describe(x), "call kl_per_unit(encoded)")
        mu_all, lv_all = model.codes, model.logvar
        checks.tensor(mu_all, "codes", where, ndim=2, dims="(N, k)")
        checks.tensor(lv_all, "logvar", where, ndim=2, dims="(N, k)")
        checks.same_shape(mu_all, lv_all, "codes and logvar", where)
        n_rows = mu_all.shape[0]
        posteriors = ((mu_all[i : i + batch_size], lv_all[i : i + batch_size]) for i in range(0, n_rows, batch_size))
    else:
        if not isinstance(model, VAE):
            checks.fail(where, "model", "a VAE (or a pool encoded by aevae.disentangle.encode)",
                        checks.describe(model), "an autoencoder has no posterior, hence no KL per unit", TypeError)
        x = checks.model_input(model, x, where)
        model.eval()
        device = next(model.parameters()).device
        n_rows = x.shape[0]
        posteriors = (model.encode(x[i : i + batch_size].to(device)) for i in range(0, n_rows, batch_size))
    if n_rows == 0:
        checks.fail(where, "x", "at least one image", "none")
    total, n = None, 0
    for mu, logvar in posteriors:
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
    where = "ablate_units"
    if mode not in {"prior", "zero"}:
        checks.fail(where, "mode", "'prior' or 'zero'", repr(mode))
    checks.generator(generator, where)
    try:
        units = torch.as_tensor(units)
    except (TypeError, ValueError, RuntimeError):
        checks.fail(where, "units", "a list of latent indices", checks.describe(units), "e.g. units=[0, 3]", TypeError)
    if units.numel() and (units.is_floating_point() or units.is_complex() or units.dtype == torch.bool):
        checks.fail(where, "units", "integer latent indices", checks.describe(units), "e.g. units=[0, 3]", TypeError)
    units = tuple(int(u) for u in units.long().reshape(-1).tolist())
    if not isinstance(model, VAE):
        checks.fail(where, "model", "a VAE", checks.describe(model), "ablate the units of a trained VAE", TypeError)
    k = model.config.latent_dim
    if any(u < 0 or u >= k for u in units):
        checks.fail(where, "units", f"indices in [0, {k})", repr(units), f"the model has {k} latent units")
    x = checks.model_input(model, x, where)
    model.eval()
    device = next(model.parameters()).device
    x = x.to(device)
    mu, _ = model.encode(x)  # (N, k)
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
