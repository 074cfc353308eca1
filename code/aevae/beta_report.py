"""Chapter 6's bookkeeping and its two checks on the verdict (issue 15), kept out of the page.

- :func:`random_rotations` and :func:`rotation_mig`: the MIG of a model's codes against the MIG of the
  same codes under random orthogonal rotations. The isotropic Gaussian prior is invariant to rotations
  of ``z``; if a model's units line up with the factors anyway, its MIG should beat the rotated codes'.
- :func:`train_factor_classifier` and :func:`factor_accuracy`: an independent classifier of the factors
  (shape, scale, orientation) trained on original images, then read on held-out originals and on their
  reconstructions: a factor the reconstructions do not carry cannot be disentangled by any code.
- :func:`mean_sd`, :func:`summary_table`, :func:`results_record`: the chapter's table and results file.

Everything is deterministic given its seeds (and the number of torch threads, for the classifier).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import checks
from .disentangle import encode, mig

__all__ = [
    "random_rotations",
    "rotation_mig",
    "FactorClassifier",
    "train_factor_classifier",
    "factor_accuracy",
    "decoded_images",
    "mean_sd",
    "summary_table",
    "results_record",
]


# --------------------------------------------------------------------------------------------------
# Random rotations


def random_rotations(dim: int, n: int, seed: int = 0) -> np.ndarray:
    """``n`` random orthogonal matrices (n, dim, dim), uniform (Haar) on O(dim): the QR decomposition of
    a standard normal matrix with the signs of R's diagonal moved into Q (Mezzadri 2007)."""
    checks.integer(dim, "dim", "random_rotations", minimum=1)
    checks.integer(n, "n", "random_rotations", minimum=1)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim, dim))
    for i in range(n):
        q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
        out[i] = q * np.sign(np.diag(r))
    return out


def rotation_mig(codes, factors, n_rotations: int = 20, seed: int = 0, bins: int = 20) -> np.ndarray:
    """MIG of ``codes @ R`` for ``n_rotations`` random orthogonal ``R`` (:func:`random_rotations`); the
    codes are centred first, so that a rotation turns them about their mean. Returns the (n_rotations,)
    scores. Compare with ``mig(codes, factors).score``: a code whose axes mean something beats its
    rotations; for a code whose axes are arbitrary the model's own axes are one rotation among many."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        checks.fail("rotation_mig", "codes", "(N, k) array", checks.describe(codes))
    centred = codes - codes.mean(0)
    return np.array([mig(centred @ r, factors, bins=bins).score
                     for r in random_rotations(codes.shape[1], n_rotations, seed)])


# --------------------------------------------------------------------------------------------------
# An independent factor classifier


class FactorClassifier(nn.Module):
    """An MLP with one softmax head per factor: image (N, D) -> a list of logits, one (N, size) per factor."""

    def __init__(self, input_dim: int, sizes, hidden: int = 512):
        super().__init__()
        self.sizes = [int(s) for s in sizes]
        self.body = nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, sum(self.sizes))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(self.head(self.body(x)), self.sizes, dim=1))


def train_factor_classifier(x: torch.Tensor, indices: torch.Tensor, sizes, factors=(0, 1, 2), hidden: int = 512,
                            epochs: int = 15, batch_size: int = 256, lr: float = 1e-3,
                            seed: int = 0) -> FactorClassifier:
    """Train a :class:`FactorClassifier` on images ``x`` (N, D) to predict the factor indices
    ``indices[:, factors]`` (``sizes``: the grid's size of every factor). Adam, the sum of the heads'
    cross-entropies, minibatches drawn from a generator seeded by ``seed``."""
    x = torch.as_tensor(x, dtype=torch.float32)
    indices = torch.as_tensor(indices)
    if x.ndim != 2 or indices.ndim != 2 or x.shape[0] != indices.shape[0]:
        checks.fail("train_factor_classifier", "x, indices", "(N, D) images and (N, K) factor indices, same N",
                    f"{tuple(x.shape)} and {tuple(indices.shape)}")
    factors = [int(f) for f in factors]
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the initial weights
    clf = FactorClassifier(x.shape[1], [sizes[f] for f in factors], hidden)
    clf.factors = factors
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    target = indices[:, factors].long()
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=g)
        for i in range(0, x.shape[0], batch_size):
            b = order[i : i + batch_size]
            loss = sum(nn.functional.cross_entropy(out, target[b, j]) for j, out in enumerate(clf(x[b])))
            opt.zero_grad()
            loss.backward()
            opt.step()
    clf.eval()
    return clf


@torch.no_grad()
def factor_accuracy(clf: FactorClassifier, x: torch.Tensor, indices: torch.Tensor, names=None) -> dict[str, float]:
    """Accuracy of each head of ``clf`` on images ``x`` with true factor indices ``indices`` (N, K);
    keys: ``names[f]`` for each classified factor ``f`` (default: its column number)."""
    x = torch.as_tensor(x, dtype=torch.float32)
    indices = torch.as_tensor(indices)
    outs = clf(x)
    return {(names[f] if names is not None else str(f)): float((out.argmax(1) == indices[:, f]).float().mean())
            for f, out in zip(clf.factors, outs)}


def decoded_images(model, x: torch.Tensor) -> torch.Tensor:
    """The model's reconstruction of ``x``: the mean image sigmoid(decoder(code)), the code being the
    posterior mean for a VAE and z for an AE (as :func:`aevae.disentangle.reconstruction` scores it)."""
    return torch.sigmoid(encode(model, x).logits)


# --------------------------------------------------------------------------------------------------
# The chapter's table and results file


def mean_sd(runs: pd.DataFrame, beta, col: str) -> tuple[float, float]:
    """Mean and (sample) standard deviation over seeds of column ``col`` for the runs with this beta."""
    v = runs.loc[runs.beta == beta, col]
    if len(v) == 0:
        checks.fail("mean_sd", "beta", f"one of the runs' betas {sorted(set(runs.beta))}", repr(beta))
    return float(v.mean()), float(v.std())


def _fmt(mean: float, std: float, digits: int) -> str:
    if np.isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" if np.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def summary_table(allruns: pd.DataFrame, order, columns: dict, digits: dict, blank: dict | None = None) -> pd.DataFrame:
    """One row per model (``order``), one column per ``columns`` key (renamed to its value): "mean ± sd"
    over the model's runs with ``digits[col]`` decimals, the mean alone for a single run, "–" where a model
    has no value; ``blank`` maps model names to the columns to show as "–" (quantities a model lacks)."""
    stats = allruns.groupby("model", sort=False)[list(columns)].agg(["mean", "std"]).reindex(list(order))
    table = pd.DataFrame({columns[c]: [_fmt(stats.loc[m, (c, "mean")], stats.loc[m, (c, "std")], digits[c])
                                       for m in order] for c in columns}, index=list(order))
    for model, cols in (blank or {}).items():
        table.loc[model, [columns[c] for c in cols]] = "–"
    return table


def results_record(allruns: pd.DataFrame, order, columns, extra: dict | None = None) -> dict:
    """The results file's per-model entries: ``{model: {col: {"mean", "std"}, "mig_per_seed": [...]}}`` for
    every column a model has a value in (std 0 for a single run), plus the entries of ``extra``."""
    record = dict(extra or {})
    for m in order:
        rows = allruns[allruns.model == m]
        record[m] = {c: {"mean": float(rows[c].mean()), "std": float(rows[c].std()) if len(rows) > 1 else 0.0}
                     for c in columns if rows[c].notna().any()}
        record[m]["mig_per_seed"] = rows.mig.tolist()
    return record
