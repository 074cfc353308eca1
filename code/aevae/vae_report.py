"""Chapter 4's tables and figures: the plumbing that turns its measurements into what the page shows.

The chapter keeps the measurements in view (the loss, the trick, the bounds, the metrics' calls); the
functions here assemble their results, so that the cells stay short:

- :func:`variance_ratio`, :func:`snr_per_estimate`, :func:`gradient_table`: the gradient estimators'
  variances relative to the pathwise estimator's, and their signal-to-noise ratios;
- :func:`two_significant`: a number rounded to two significant digits and written with thousands
  separators ("60,000"), as the prose quotes the variance ratios;
- :func:`likelihood_table`: the importance-weighted bounds for each K against the floor;
- :func:`quality_columns`: one sample-quality result as the scorecard's three columns;
- :func:`ablation_table`, :func:`unit_bars`: the k = 32 VAE's units, ablated and drawn;
- :func:`anomaly_table`: anomaly scores on normal and anomalous images, their means and AUROCs;
- :func:`prior_quantile_grid`, :func:`faint_cells`: a grid of equal-prior-mass codes at k = 2 and how
  many of its decoded images are near blank.

Nothing here draws random numbers or trains: every function is a deterministic function of its inputs.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

__all__ = ["variance_ratio", "snr_per_estimate", "gradient_table", "two_significant", "likelihood_table",
           "quality_columns", "ablation_table", "anomaly_table", "unit_bars", "prior_quantile_grid",
           "faint_cells"]


# ---------------------------------------------------------------------------------------------
# Gradient estimators
# ---------------------------------------------------------------------------------------------

def variance_ratio(stats: Mapping, estimator: str, n_samples: int, reference: str = "pathwise") -> float:
    """Total variance of ``estimator`` over that of ``reference``, both at ``n_samples`` samples per image.

    ``stats`` maps ``(estimator, n_samples)`` to an :class:`aevae.gradients.GradientStats`."""
    return stats[estimator, n_samples].variance / stats[reference, n_samples].variance


def snr_per_estimate(stats: Mapping, reference: tuple[str, int] = ("pathwise", 10)) -> dict:
    """Signal-to-noise ratio of one estimate of each estimator: ||grad||^2 / tr Cov(g), with ||grad||^2
    taken from the ``reference`` estimates (the most precise; all estimators are unbiased for the same
    gradient), by the same keys as ``stats``."""
    norm_sq = stats[reference].mean_sq_norm
    return {key: norm_sq / st.variance for key, st in stats.items()}


def gradient_table(stats: Mapping, names: Mapping[str, str], snr: Mapping) -> pd.DataFrame:
    """One row per (estimator, S): repeats, total variance, variance relative to the pathwise estimator
    at the same S, and the SNR of one estimate; indexed by the estimator's long name and S."""
    rows = [{"estimator": names[e], "samples per image S": S, "repeats": st.repeats, "total variance": st.variance,
             "variance / pathwise": st.variance / stats["pathwise", S].variance}
            for (e, S), st in stats.items()]
    table = pd.DataFrame(rows).set_index(["estimator", "samples per image S"])
    table["SNR"] = [snr[key] for key in stats]
    return table


def two_significant(x: float) -> str:
    """``x`` rounded to two significant digits, as a whole number with thousands separators."""
    return f"{float(f'{x:.2g}'):,.0f}"


# ---------------------------------------------------------------------------------------------
# Likelihood
# ---------------------------------------------------------------------------------------------

def likelihood_table(ks: Sequence[int], nll: Mapping[int, float], se: Mapping[int, float],
                     floor: float) -> pd.DataFrame:
    """-L_K, its standard error over images and its distance to the floor, one row per K."""
    return pd.DataFrame({"K": list(ks), "-L_K (nats per image)": [nll[K] for K in ks],
                         "standard error": [se[K] for K in ks],
                         "above the floor": [nll[K] - floor for K in ks]}).set_index("K")


# ---------------------------------------------------------------------------------------------
# Scorecard
# ---------------------------------------------------------------------------------------------

def quality_columns(quality: Mapping[str, float], label: str) -> dict[str, float]:
    """A :func:`aevae.metrics.sample_quality` result as three scorecard entries named after ``label``."""
    return {f"{label}: Fréchet": quality["frechet"], f"{label}: precision": quality["precision"],
            f"{label}: recall": quality["recall"]}


# ---------------------------------------------------------------------------------------------
# Units
# ---------------------------------------------------------------------------------------------

def ablation_table(groups: Mapping[str, torch.Tensor], kl: torch.Tensor, ablation: Mapping) -> pd.DataFrame:
    """One row per group of units (a boolean mask over the latents): how many, their summed KL, and the
    effect of replacing them (an :class:`aevae.vae_eval.AblationEffect`, by the same name)."""
    rows = [{"units replaced by prior draws": name, "how many": int(m.sum()),
             "their KL (nats/image)": float(kl[m].sum()),
             "drop in log p(x|z) (nats/image)": ablation[name].delta_log_px,
             "image change (MSE per pixel)": ablation[name].image_mse}
            for name, m in groups.items()]
    return pd.DataFrame(rows).set_index("units replaced by prior draws")


def unit_bars(kl: torch.Tensor, activity: torch.Tensor, informative: torch.Tensor, active: torch.Tensor,
              kl_threshold: float = 0.1, activity_threshold: float = 0.01):
    """Two bar charts of the latent units sorted by KL: KL per unit (left) and activity (right), log scale.
    Blue: informative (KL above ``kl_threshold``); orange: active but not informative; grey: inactive.
    Returns the figure."""
    import matplotlib.pyplot as plt

    order = torch.argsort(kl, descending=True)
    pos = np.arange(len(kl))
    colors = np.where(informative[order].numpy(), "C0", np.where(active[order].numpy(), "C1", "C7"))
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for ax, values, ylabel in ((axes[0], kl, "KL per unit (nats/image)"),
                               (axes[1], activity, "activity $\\mathrm{Cov}_x(E_q[z_j])$")):
        ax.bar(pos, values[order].numpy(), color=colors)
        ax.set_yscale("log")
        ax.set_xlabel("latent unit (sorted by KL)")
        ax.set_ylabel(ylabel)
    axes[0].axhline(kl_threshold, ls=":", color="k", lw=1)
    axes[1].axhline(activity_threshold, ls="--", color="k", lw=1, label=f"A = {activity_threshold} (Burda et al.)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Anomaly detection
# ---------------------------------------------------------------------------------------------

def anomaly_table(scores: Mapping[str, tuple], index_name: str = "score (higher = more anomalous)") -> pd.DataFrame:
    """``scores`` maps a score's name to its values on the normal and on the anomalous images (higher = more
    anomalous); one row per score: the two means and the AUROC."""
    from .metrics import auroc

    return pd.DataFrame({
        index_name: list(scores),
        "Fashion-MNIST (mean)": [float(a.mean()) for a, _ in scores.values()],
        "digits (mean)": [float(b.mean()) for _, b in scores.values()],
        "AUROC": [auroc(a, b) for a, b in scores.values()]}).set_index(index_name)


# ---------------------------------------------------------------------------------------------
# The k = 2 grid
# ---------------------------------------------------------------------------------------------

def prior_quantile_grid(n: int = 15, lo: float = 0.03, hi: float = 0.97) -> torch.Tensor:
    """(n * n, 2) codes on a grid of N(0, 1) quantiles from ``lo`` to ``hi`` in each direction, so that
    every cell holds the same prior mass. Row-major as an image grid: z2 falls from the top row to the
    bottom one, z1 rises from left to right."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"prior_quantile_grid: n must be a positive int, got {n!r}.")
    if not 0 < lo < hi < 1:
        raise ValueError(f"prior_quantile_grid: need 0 < lo < hi < 1, got lo={lo!r}, hi={hi!r}.")
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(lo, hi, n))
    return torch.stack(torch.meshgrid(q.flip(0), q, indexing="ij")[::-1], -1).reshape(-1, 2)


def faint_cells(images: torch.Tensor, reference: torch.Tensor, quantile: float = 0.01) -> tuple[int, float]:
    """How many ``images`` have a mean pixel intensity below the ``quantile`` of the ``reference`` images'
    (with 0.01: fainter than 99% of them), and that level."""
    level = float(torch.quantile(reference.mean(1), quantile))
    return int((images.mean(1) < level).sum()), level
