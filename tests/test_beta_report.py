"""Chapter 6's report helpers: random rotations against MIG, the factor classifier, the table and record."""

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from aevae.beta_report import (
    FactorClassifier,
    decoded_images,
    factor_accuracy,
    mean_sd,
    random_rotations,
    results_record,
    rotation_mig,
    summary_table,
    train_factor_classifier,
)
from aevae.disentangle import mig
from aevae.models import VAE, Autoencoder, NetConfig

SIZES = (3, 4, 5)


@pytest.fixture(scope="module")
def full_grid():
    """Every combination of three factors (3 x 4 x 5), each twice: the factors are exactly independent."""
    idx = np.array(list(itertools.product(*[range(s) for s in SIZES])))
    return np.concatenate([idx, idx])


def test_random_rotations_are_orthogonal_seeded_and_not_all_alike():
    r = random_rotations(6, 5, seed=3)
    assert r.shape == (5, 6, 6)
    for q in r:
        np.testing.assert_allclose(q @ q.T, np.eye(6), atol=1e-12)
    np.testing.assert_array_equal(r, random_rotations(6, 5, seed=3))
    assert not np.allclose(r, random_rotations(6, 5, seed=4))
    assert not np.allclose(r[0], r[1])
    # Haar: the mean of many random orthogonal matrices is close to 0 (not a fixed sign pattern)
    assert np.abs(random_rotations(3, 2000, seed=0).mean(0)).max() < 0.06
    with pytest.raises(ValueError):
        random_rotations(0, 2)


def test_mig_of_the_factors_themselves_is_one(full_grid):
    """Reference: with every factor at most 20 values and exactly independent factors, codes = factors
    give I = H for the own unit and I = 0 for every other: MIG is exactly 1."""
    assert mig(full_grid.astype(float), full_grid).score == pytest.approx(1.0, abs=1e-12)


def test_rotating_a_disentangled_code_lowers_mig(full_grid):
    codes = (full_grid - full_grid.mean(0)) / full_grid.std(0)
    rotated = rotation_mig(codes, full_grid, n_rotations=10, seed=0)
    assert rotated.shape == (10,)
    assert rotated.max() < 0.9 and rotated.mean() < 0.6
    np.testing.assert_array_equal(rotated, rotation_mig(codes, full_grid, n_rotations=10, seed=0))


def test_rotation_mig_is_about_the_axes_not_the_code():
    """A code already rotated at random scores like its rotations: its own MIG is one draw among them;
    centring does not matter (MIG bins each unit, so a shift changes nothing)."""
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 8, size=(4000, 3))
    codes = (factors - factors.mean(0)) @ random_rotations(3, 1, seed=7)[0]
    own = mig(codes, factors).score
    rotated = rotation_mig(codes, factors, n_rotations=20, seed=1)
    assert rotated.min() < own < rotated.max() + 0.05
    np.testing.assert_allclose(rotation_mig(codes + 5.0, factors, 5, seed=1), rotation_mig(codes, factors, 5, seed=1))


def test_rotation_mig_rejects_a_vector():
    with pytest.raises(ValueError):
        rotation_mig(np.zeros(10), np.zeros((10, 2), dtype=int))


def _stripes(n, seed):
    """Images (n, 20) whose factor 0 (3 values) lights one of three groups of five pixels and factor 1
    (2 values) the last five: a classifier must reach 100% on both."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.stack([torch.randint(0, 3, (n,), generator=g), torch.randint(0, 2, (n,), generator=g)], 1)
    x = torch.zeros(n, 20)
    for v in range(3):
        x[idx[:, 0] == v, 5 * v : 5 * v + 5] = 1.0
    x[:, 15:] = idx[:, 1:].float()
    return x + 0.05 * torch.randn(n, 20, generator=g), idx


def test_the_factor_classifier_learns_what_the_images_carry_and_nothing_else():
    x, idx = _stripes(2000, 0)
    clf = train_factor_classifier(x, idx, sizes=(3, 2), factors=(0, 1), hidden=32, epochs=10, seed=0)
    assert isinstance(clf, FactorClassifier)
    xt, it = _stripes(500, 1)
    acc = factor_accuracy(clf, xt, it, names=["a", "b"])
    assert acc == {"a": 1.0, "b": 1.0}
    # images that no longer carry factor 0 (its pixels erased) drop to about chance on it, not on factor 1
    erased = xt.clone()
    erased[:, :15] = 0.0
    acc = factor_accuracy(clf, erased, it, names=["a", "b"])
    assert acc["a"] < 0.5 and acc["b"] == 1.0
    # the same seed trains the same classifier
    again = train_factor_classifier(x, idx, sizes=(3, 2), factors=(0, 1), hidden=32, epochs=10, seed=0)
    for p, q in zip(clf.parameters(), again.parameters()):
        assert torch.equal(p, q)


def test_factor_classifier_checks_shapes():
    with pytest.raises(ValueError):
        train_factor_classifier(torch.zeros(10, 4), torch.zeros(9, 2, dtype=torch.long), sizes=(2, 2))


def test_decoded_images_are_the_decoded_mean_of_the_code():
    net = NetConfig(input_dim=16, hidden=(8,), latent_dim=2)
    x = torch.rand(5, 16).round()
    for model in (VAE(net), Autoencoder(net)):
        with torch.no_grad():
            code = model.encode(x)[0] if isinstance(model, VAE) else model.encode(x)
            expected = torch.sigmoid(model.decoder(code))
        out = decoded_images(model, x)
        assert out.shape == (5, 16) and float(out.min()) >= 0 and float(out.max()) <= 1
        torch.testing.assert_close(out, expected)


@pytest.fixture
def runs():
    return pd.DataFrame({"model": ["PCA", "AE", "AE", "VAE", "VAE"], "beta": [np.nan, 0, 0, 1, 1],
                         "seed": [0, 0, 1, 0, 1], "mig": [0.01, 0.1, 0.3, 0.2, 0.2],
                         "kl": [np.nan, np.nan, np.nan, 10.0, 12.0]})


def test_mean_sd(runs):
    m, sd = mean_sd(runs, 0, "mig")
    assert m == pytest.approx(0.2) and sd == pytest.approx(np.std([0.1, 0.3], ddof=1))
    with pytest.raises(ValueError):
        mean_sd(runs, 4, "mig")


def test_summary_table(runs):
    t = summary_table(runs, ["PCA", "AE", "VAE"], {"mig": "MIG", "kl": "KL"}, {"mig": 2, "kl": 1},
                      blank={"AE": ["kl"]})
    assert list(t.columns) == ["MIG", "KL"] and list(t.index) == ["PCA", "AE", "VAE"]
    assert t.loc["PCA", "MIG"] == "0.01"  # one run: the mean alone
    assert t.loc["AE", "MIG"] == "0.20 ± 0.14"
    assert t.loc["AE", "KL"] == "–" and t.loc["PCA", "KL"] == "–"
    assert t.loc["VAE", "KL"] == "11.0 ± 1.4"


def test_results_record(runs):
    r = results_record(runs, ["PCA", "AE", "VAE"], ["mig", "kl"], extra={"best_beta": 2})
    assert r["best_beta"] == 2
    assert r["PCA"] == {"mig": {"mean": 0.01, "std": 0.0}, "mig_per_seed": [0.01]}
    assert set(r["AE"]) == {"mig", "mig_per_seed"}  # no KL for the AE: left out
    assert r["VAE"]["kl"]["mean"] == pytest.approx(11.0) and r["VAE"]["mig_per_seed"] == [0.2, 0.2]
