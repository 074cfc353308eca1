"""Chapter 4's tables and figures (aevae.vae_report), each against a value computed another way."""

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from aevae.gradients import GradientStats
from aevae.vae_eval import AblationEffect
from aevae.vae_report import (ablation_table, anomaly_table, faint_cells, gradient_table, likelihood_table,
                              prior_quantile_grid, quality_columns, snr_per_estimate, two_significant,
                              unit_bars, variance_ratio)


def _stats(estimator, S, variance, mean_sq_norm, repeats=10):
    return GradientStats(estimator, S, repeats, torch.zeros(3, dtype=torch.float64), variance, mean_sq_norm)


STATS = {("pathwise", 1): _stats("pathwise", 1, 2.0, 9.0, 100), ("score", 1): _stats("score", 1, 8000.0, 50.0, 100),
         ("pathwise", 10): _stats("pathwise", 10, 0.2, 4.0, 40), ("score", 10): _stats("score", 10, 1000.0, 7.0, 40)}
NAMES = {"pathwise": "pathwise (reparameterization)", "score": "score function (REINFORCE)"}


def test_variance_ratio_and_snr():
    assert variance_ratio(STATS, "score", 1) == pytest.approx(4000.0)
    assert variance_ratio(STATS, "score", 10) == pytest.approx(5000.0)
    assert variance_ratio(STATS, "pathwise", 10) == 1.0
    snr = snr_per_estimate(STATS)  # ||grad||^2 from the pathwise S = 10 estimates: 4.0
    assert snr == pytest.approx({("pathwise", 1): 2.0, ("score", 1): 5e-4, ("pathwise", 10): 20.0,
                                 ("score", 10): 4e-3})
    assert snr_per_estimate(STATS, ("score", 1))[("pathwise", 1)] == pytest.approx(25.0)


def test_gradient_table_rows_follow_the_stats():
    snr = snr_per_estimate(STATS)
    t = gradient_table(STATS, NAMES, snr)
    assert list(t.index.names) == ["estimator", "samples per image S"]
    assert list(t.columns) == ["repeats", "total variance", "variance / pathwise", "SNR"]
    row = t.loc[("score function (REINFORCE)", 10)]
    assert row["repeats"] == 40 and row["total variance"] == 1000.0
    assert row["variance / pathwise"] == pytest.approx(5000.0) and row["SNR"] == pytest.approx(4e-3)
    assert t["variance / pathwise"].tolist() == pytest.approx([1.0, 4000.0, 1.0, 5000.0])


def test_two_significant():
    assert two_significant(60123.4) == "60,000"
    assert two_significant(1249.0) == "1,200"
    assert two_significant(25.3) == "25"
    assert two_significant(1.5e5) == "150,000"


def test_likelihood_table():
    t = likelihood_table((1, 10), {1: 245.0, 10: 243.5}, {1: 2.0, 10: 1.9}, floor=190.0)
    assert t.index.tolist() == [1, 10]
    assert t.loc[10, "-L_K (nats per image)"] == 243.5 and t.loc[10, "standard error"] == 1.9
    assert t["above the floor"].tolist() == pytest.approx([55.0, 53.5])


def test_quality_columns():
    cols = quality_columns({"frechet": 12.5, "precision": 0.8, "recall": 0.3}, "midpoints")
    assert cols == {"midpoints: Fréchet": 12.5, "midpoints: precision": 0.8, "midpoints: recall": 0.3}


def test_ablation_table():
    kl = torch.tensor([3.0, 0.001, 2.0, 0.002])
    inform = kl > 0.1
    groups = {"informative": inform, "rest": ~inform}
    ablation = {"informative": AblationEffect((0, 2), "prior", 150.0, 0.05),
                "rest": AblationEffect((1, 3), "prior", 0.01, 1e-6)}
    t = ablation_table(groups, kl, ablation)
    assert t["how many"].tolist() == [2, 2]
    assert t["their KL (nats/image)"].tolist() == pytest.approx([5.0, 0.003])
    assert t.loc["informative", "drop in log p(x|z) (nats/image)"] == 150.0
    assert t.loc["rest", "image change (MSE per pixel)"] == 1e-6


def _auroc_by_pairs(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(((b[None, :] > a[:, None]) + 0.5 * (b[None, :] == a[:, None])).mean())


def test_anomaly_table_means_and_auroc():
    g = torch.Generator().manual_seed(0)
    normal, anomalous = torch.randn(50, generator=g), torch.randn(40, generator=g) + 1.0
    t = anomaly_table({"score": (normal, anomalous), "flipped": (-normal, -anomalous)})
    assert t.index.name == "score (higher = more anomalous)"
    assert t.loc["score", "Fashion-MNIST (mean)"] == pytest.approx(float(normal.mean()))
    assert t.loc["score", "digits (mean)"] == pytest.approx(float(anomalous.mean()))
    assert t.loc["score", "AUROC"] == pytest.approx(_auroc_by_pairs(normal, anomalous))
    assert t.loc["score", "AUROC"] > 0.7
    assert t.loc["flipped", "AUROC"] == pytest.approx(1 - t.loc["score", "AUROC"])


def test_prior_quantile_grid_is_the_image_grid_of_quantiles():
    n = 5
    grid = prior_quantile_grid(n, 0.1, 0.9)
    assert grid.shape == (n * n, 2)
    u = torch.linspace(0.1, 0.9, n)
    q = [float(torch.distributions.Normal(0.0, 1.0).icdf(v)) for v in u]
    ref = torch.tensor([[q[col], q[n - 1 - row]] for row in range(n) for col in range(n)])
    torch.testing.assert_close(grid, ref)
    # every cell holds the same prior mass: the CDF of each coordinate is the evenly spaced level
    torch.testing.assert_close(torch.distributions.Normal(0.0, 1.0).cdf(grid[:n, 0]), u)
    assert prior_quantile_grid().shape == (225, 2)
    with pytest.raises(ValueError):
        prior_quantile_grid(0)
    with pytest.raises(ValueError):
        prior_quantile_grid(5, 0.5, 0.4)


def test_faint_cells():
    reference = torch.linspace(0.0, 1.0, 101).unsqueeze(1).expand(101, 4)  # mean intensities 0, 0.01, ..., 1
    images = torch.tensor([[0.0] * 4, [0.005] * 4, [0.5] * 4])
    count, level = faint_cells(images, reference, quantile=0.01)
    assert level == pytest.approx(0.01)
    assert count == 2
    assert faint_cells(images, reference, quantile=0.6) == (3, pytest.approx(0.6))


def test_unit_bars_sorts_by_kl_and_colours_by_kind():
    kl = torch.tensor([0.001, 5.0, 0.05, 2.0])
    activity = torch.tensor([1e-4, 1.0, 0.02, 0.5])
    informative, active = kl > 0.1, activity > 0.01
    fig = unit_bars(kl, activity, informative, active)
    ax_kl, ax_act = fig.axes
    heights = [p.get_height() for p in ax_kl.patches]
    assert heights == pytest.approx([5.0, 2.0, 0.05, 0.001])
    assert [p.get_height() for p in ax_act.patches] == pytest.approx([1.0, 0.5, 0.02, 1e-4])
    colours = [matplotlib.colors.to_hex(p.get_facecolor()) for p in ax_kl.patches]
    c0, c1, c7 = (matplotlib.colors.to_hex(f"C{i}") for i in (0, 1, 7))
    assert colours == [c0, c0, c1, c7]
    assert ax_kl.get_yscale() == "log" and ax_act.get_yscale() == "log"
    import matplotlib.pyplot as plt

    plt.close(fig)
