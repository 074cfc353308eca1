"""Why the reparameterization trick matters, measured: the variance of two unbiased estimators of the
gradient of the ELBO with respect to the encoder's parameters phi.

The ELBO is ``E_{q_phi(z|x)}[log p(x|z)] - KL(q_phi(z|x) || p(z))``. The KL of two Gaussians is known
in closed form, so its gradient is exact in both estimators; they differ only in how they estimate the
gradient of the expectation ``E_q[f(z)]`` with ``f(z) = log p(x|z)`` (Mohamed et al. 2020):

- **pathwise** (reparameterization; Kingma & Welling 2013, Rezende et al. 2014): write
  ``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` and differentiate ``f`` through ``z``:
  ``grad = E_eps[ df/dz * dz/dphi ]``;
- **score function** (REINFORCE; Williams 1992): ``grad = E_q[ f(z) * grad_phi log q_phi(z|x) ]``,
  which needs only values of ``f``, never its derivative;
- **score function with a baseline**: ``f(z)`` replaced by ``f(z) - b``, where ``b`` does not depend on
  the draw of z whose score it multiplies, so the estimator stays unbiased (``E_q[grad log q] = 0``):

  - ``"score_baseline"``: the mean of ``f`` over the *other* samples of the same image (leave-one-out;
    needs ``n_samples >= 2``);
  - ``"score_batch_baseline"``: the mean of ``f`` over the *other images* of the batch, same sample
    index (works with one sample per image; needs a batch of 2 or more). Like the running mean of NVIL
    (Mnih & Gregor 2014) it removes the offset that every image shares, not what differs between images;
  - ``"score_mu_baseline"``: the image's own ``log p(x | z = mu)``, the decoder at the posterior mean, a
    per-image baseline that costs one more decoder pass and works with one sample.

Each estimate uses ``n_samples`` draws of z per image and returns the gradient of the batch-mean ELBO
(nats per image, the training objective's convention), flattened over the encoder's parameters.
Shapes: S = samples per image, B = batch, k = latent dimension, D = data dimension, P = parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .models import VAE, GaussianEncoder, reparameterize
from .objectives import bernoulli_log_prob, gaussian_kl

__all__ = ["ESTIMATORS", "encoder_parameters", "elbo_gradient", "GradientStats", "gradient_variance"]

ESTIMATORS = ("pathwise", "score", "score_baseline", "score_batch_baseline", "score_mu_baseline")


def encoder_parameters(model: VAE) -> list[torch.nn.Parameter]:
    """The parameters phi of q(z | x): the encoder's body and its (mean, log-variance) head."""
    return list(model.encoder.parameters())


def elbo_gradient(model: VAE, x: torch.Tensor, estimator: str = "pathwise", n_samples: int = 1,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """One stochastic estimate of d ELBO / d phi (the batch-mean ELBO), flattened to (P,).

    With ``estimator="pathwise"`` and ``n_samples=1`` this is exactly the gradient that training with
    :func:`aevae.objectives.vae_loss` follows (same draws for the same generator state), sign flipped.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}.")
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}.")
    if estimator == "score_baseline" and n_samples < 2:
        raise ValueError("the leave-one-out baseline needs n_samples >= 2.")
    if estimator == "score_batch_baseline" and x.shape[0] < 2:
        raise ValueError("the batch baseline needs a batch of 2 images or more.")
    params = encoder_parameters(model)
    mu, logvar = model.encode(x)  # (B, k), (B, k)
    kl = gaussian_kl(mu, logvar).sum(-1)  # (B,) closed form: exact gradient in every estimator
    if n_samples == 1:  # (1, B, k) draws the same numbers as reparameterize(mu, logvar) of training
        mu_s, lv_s = mu.unsqueeze(0), logvar.unsqueeze(0)
    else:
        mu_s = mu.unsqueeze(0).expand(n_samples, *mu.shape)  # (S, B, k)
        lv_s = logvar.unsqueeze(0).expand(n_samples, *logvar.shape)
    z = reparameterize(mu_s, lv_s, generator)  # (S, B, k)
    if estimator == "pathwise":
        f = bernoulli_log_prob(x, model.decode(z))  # (S, B), differentiable through z
        surrogate = f.mean(0)  # (B,)
    else:
        z = z.detach()  # no path through z: the gradient flows only through log q
        log_q = GaussianEncoder.log_prob(z, mu_s, lv_s)  # (S, B)
        with torch.no_grad():
            f = bernoulli_log_prob(x, model.decode(z))  # (S, B), values only
            f = f - _baseline(model, x, mu, f, estimator)  # (S, B); the baseline of "score" is 0
        surrogate = (f * log_q).mean(0)  # (B,) its gradient is the score-function estimate
    objective = (surrogate - kl).mean()  # the batch-mean ELBO's surrogate
    grads = torch.autograd.grad(objective, params)
    return torch.cat([g.reshape(-1) for g in grads])  # (P,)


def _baseline(model: VAE, x: torch.Tensor, mu: torch.Tensor, f: torch.Tensor, estimator: str) -> torch.Tensor:
    """The control variate subtracted from f = log p(x | z) (S, B): independent of the draw it is paired with."""
    n_samples, batch = f.shape
    if estimator == "score_baseline":  # the other samples of the same image
        return (f.sum(0, keepdim=True) - f) / (n_samples - 1)
    if estimator == "score_batch_baseline":  # the other images of the batch, same sample index
        return (f.sum(1, keepdim=True) - f) / (batch - 1)
    if estimator == "score_mu_baseline":  # the image's own log-likelihood at the posterior mean
        return bernoulli_log_prob(x, model.decode(mu)).unsqueeze(0)  # (1, B)
    return torch.zeros(())


@dataclass
class GradientStats:
    """Summary of ``repeats`` independent gradient estimates (each a (P,) vector)."""

    estimator: str
    n_samples: int
    repeats: int
    mean: torch.Tensor  # (P,) float64, the average estimate
    variance: float  # trace of the covariance: sum over parameters of the per-parameter variance
    mean_sq_norm: float  # unbiased estimate of ||E g||^2: ||mean||^2 - variance / repeats

    @property
    def snr(self) -> float:
        """||E g||^2 / tr Cov(g) for one estimate: above 1, a single estimate points mostly the right way."""
        return max(self.mean_sq_norm, 0.0) / self.variance if self.variance > 0 else float("inf")


def gradient_variance(model: VAE, x: torch.Tensor, estimator: str = "pathwise", n_samples: int = 1,
                      repeats: int = 100, generator: torch.Generator | None = None) -> GradientStats:
    """Draw ``repeats`` independent estimates of d ELBO / d phi on the same batch ``x`` and model, and
    return their mean and total variance (unbiased, 1/(repeats-1)). Running sums in float64, so the
    memory is O(P), not O(repeats * P). The model is not changed."""
    if not isinstance(repeats, int) or repeats < 2:
        raise ValueError(f"repeats must be an int >= 2, got {repeats!r}.")
    total = total_sq = None
    for _ in range(repeats):
        g = elbo_gradient(model, x, estimator, n_samples, generator).double()  # (P,)
        if total is None:
            total, total_sq = torch.zeros_like(g), torch.zeros_like(g)
        total += g
        total_sq += g * g
    mean = total / repeats
    var = ((total_sq - repeats * mean * mean) / (repeats - 1)).clamp_min(0).sum()
    var = float(var)
    # E||mean||^2 = ||E g||^2 + tr Cov / repeats: remove the noise so that noisy estimators are not flattered
    return GradientStats(estimator, n_samples, repeats, mean, var, float((mean * mean).sum()) - var / repeats)
