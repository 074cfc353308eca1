"""Disentanglement, measured where the true factors are known (chapter 6).

Three published metrics, each computed from a *pool* of encoded images whose factor indices are known
(see :mod:`aevae.shapes`), plus the per-unit quantities the thread argues about:

- :func:`beta_vae_metric` (Higgins et al. 2017): fix one factor, average |z1 - z2| over pairs of images
  that share it, predict which factor was fixed with a linear classifier; held-out accuracy.
- :func:`mig`, the mutual information gap (Chen et al. 2018) with the estimator of Locatello et al.'s
  ``disentanglement_lib``: every code unit is discretised into 20 equal-width histogram bins, the
  discrete mutual information I(z_j; v_k) is computed on the pool, and the gap between the two most
  informative units is divided by the factor's entropy H(v_k); the score is the mean over factors.
- :func:`factor_vae_metric` (Kim & Mnih 2018): standardise every unit by its global standard deviation,
  drop collapsed units (standard deviation below 0.05), fix one factor over a batch, vote for the unit with
  the smallest normalised variance, classify by majority vote; held-out accuracy.
- :func:`kl_per_unit` (that of :mod:`aevae.vae_eval`, on an encoded pool), :func:`reconstruction`,
  :func:`unit_ablation`: what each VAE unit costs in nats and whether the decoder uses it.

The two sampled metrics draw their conditional batches from the pool ("images that share factor k's
value") instead of rendering new images for every vote. With independent uniform factors this is the same
distribution of pairs and batches as the original protocol; each image is simply reused across votes,
which lets one encoding pass per model serve all three metrics.

Everything here works on NumPy arrays: ``codes`` (N, k) float, ``factors`` (N, K) integer indices.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from . import checks
from .models import VAE, Autoencoder
from .objectives import bernoulli_log_prob, vae_loss
from .vae_eval import kl_per_unit  # one implementation: kl_per_unit(encoded) or kl_per_unit(vae, x)

__all__ = [
    "ae_bernoulli_loss",
    "beta_vae_objective",
    "Encoded",
    "encode",
    "kl_per_unit",
    "reconstruction",
    "unit_ablation",
    "latent_traversal",
    "discretize",
    "mutual_info_matrix",
    "discrete_entropy",
    "MIGResult",
    "mig",
    "MetricResult",
    "beta_vae_metric",
    "factor_vae_metric",
]


# --------------------------------------------------------------------------------------------------
# Objectives: the AE and the VAE share the Bernoulli reconstruction term


def ae_bernoulli_loss(model: Autoencoder, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The plain AE trained with the VAE's reconstruction term: -log p(x | z = encoder(x)) for a Bernoulli
    decoder, summed over pixels, mean over the batch. No KL, a deterministic code: the beta -> 0 end of the
    beta-VAE family on the same networks."""
    x = checks.model_input(model, x, "ae_bernoulli_loss")
    logits = model.decoder(model.encode(x))  # (B, D) pre-sigmoid, as the VAE's decoder logits
    return -bernoulli_log_prob(x, logits).mean()


def beta_vae_objective(beta: float):
    """``loss_fn(model, batch, generator)`` for :func:`aevae.train.fit`: the negative beta-weighted ELBO
    -(E_q[log p(x|z)] - beta * KL) of :func:`aevae.objectives.vae_loss` (Higgins et al. 2017, eq. 4)."""
    beta = checks.number(beta, "beta", "beta_vae_objective", minimum=0,
                         fix="beta = 1 is the VAE, beta > 1 a beta-VAE")
    return functools.partial(vae_loss, beta=beta)


# --------------------------------------------------------------------------------------------------
# Encoding a pool once per model


@dataclass
class Encoded:
    codes: torch.Tensor  # (N, k) the representation: the posterior mean for a VAE, z for an AE
    logvar: torch.Tensor | None  # (N, k) posterior log-variance (None for an AE)
    logits: torch.Tensor  # (N, D) decoder logits at the code


@torch.no_grad()
def encode(model: VAE | Autoencoder, x: torch.Tensor, batch_size: int = 4096) -> Encoded:
    """Encode ``x`` (N, D) and decode the code (the VAE's mean, not a sample) in batches, on the CPU."""
    checks.integer(batch_size, "batch_size", "encode")
    x = checks.model_input(model, x, "encode")
    if x.shape[0] == 0:
        checks.fail("encode", "x", "at least one image", "none")
    model.eval()
    device = next(model.parameters()).device
    codes, logvars, logits = [], [], []
    for i in range(0, x.shape[0], batch_size):
        b = x[i : i + batch_size].to(device)
        if isinstance(model, VAE):
            mu, logvar = model.encode(b)
            logvars.append(logvar.cpu())
        else:
            mu = model.encode(b)
        codes.append(mu.cpu())
        logits.append(model.decoder(mu).cpu())
    return Encoded(torch.cat(codes), torch.cat(logvars) if logvars else None, torch.cat(logits))


def _check_encoded(enc, x, where: str) -> torch.Tensor:
    """``enc`` an :class:`Encoded` pool and ``x`` its images (N, D) (image batches flattened)."""
    if not isinstance(enc, Encoded):
        checks.fail(where, "enc", "an Encoded pool (aevae.disentangle.encode(model, x))", checks.describe(enc),
                    "encode the pool first: enc = encode(model, x)", TypeError)
    x = checks.batch(x, enc.logits.shape[1], "x", where)
    checks.same_rows(enc.logits, x, "enc and x", where, "pass the images that were encoded, in the same order")
    return x


def reconstruction(enc: Encoded, x: torch.Tensor) -> dict[str, float]:
    """Reconstruction error of the decoded code: Bernoulli negative log-likelihood (nats per image, summed
    over pixels) and squared error of the mean image sigmoid(logits) (per pixel), both averaged over the pool."""
    x = _check_encoded(enc, x, "reconstruction")
    nll = -bernoulli_log_prob(x, enc.logits).mean()
    mse = ((torch.sigmoid(enc.logits) - x) ** 2).mean()
    return {"nll": float(nll), "mse": float(mse)}


@torch.no_grad()
def unit_ablation(model: VAE | Autoencoder, enc: Encoded, x: torch.Tensor, fill: torch.Tensor | None = None,
                  batch_size: int = 4096) -> torch.Tensor:
    """Increase of the Bernoulli NLL (nats per image) when one unit of the code is replaced by ``fill``
    (default: the prior mean 0 for a VAE, the unit's pool mean for an AE), one value per unit (k,).
    A unit the decoder ignores costs nothing to remove."""
    x = _check_encoded(enc, x, "unit_ablation")
    checks.integer(batch_size, "batch_size", "unit_ablation")
    k = enc.codes.shape[1]
    if fill is None:
        fill = torch.zeros(k) if enc.logvar is not None else enc.codes.mean(0)
    else:
        checks.tensor(fill, "fill", "unit_ablation", ndim=1, dims=f"({k},)")
        if fill.shape[0] != k:
            checks.fail("unit_ablation", "fill", f"one value per unit, ({k},)", checks.describe(fill))
    device = next(model.parameters()).device
    base = -bernoulli_log_prob(x, enc.logits).mean()
    out = torch.empty(k)
    for j in range(k):
        total = 0.0
        for i in range(0, x.shape[0], batch_size):
            z = enc.codes[i : i + batch_size].clone()
            z[:, j] = fill[j]
            logits = model.decoder(z.to(device)).cpu()
            total += float(-bernoulli_log_prob(x[i : i + batch_size], logits).sum())
        out[j] = total / x.shape[0] - base
    return out


@torch.no_grad()
def latent_traversal(model: VAE | Autoencoder, z0: torch.Tensor, units, values: torch.Tensor) -> torch.Tensor:
    """Decode ``z0`` (k,) with one unit at a time set to each of ``values`` (T,): mean images
    (len(units), T, D), sigmoid of the decoder's logits."""
    where = "latent_traversal"
    k = model.config.latent_dim
    checks.tensor(z0, "z0", where, ndim=1, dims=f"({k},)")
    if z0.shape[0] != k:
        checks.fail(where, "z0", f"one code of {k} units, ({k},)", checks.describe(z0))
    checks.tensor(values, "values", where, ndim=1, dims="(T,)")
    units = list(checks.array(units, "units", where, ndim=1, kind="int", dims="(number of units,)")) \
        if not isinstance(units, (int, np.integer)) else [units]
    if any(u < 0 or u >= k for u in units):
        checks.fail(where, "units", f"indices in [0, {k})", repr([int(u) for u in units]))
    device = next(model.parameters()).device
    rows = []
    for j in units:
        z = z0.expand(len(values), -1).clone()  # (T, k)
        z[:, j] = values
        rows.append(torch.sigmoid(model.decoder(z.to(device))).cpu())
    return torch.stack(rows)


# --------------------------------------------------------------------------------------------------
# Mutual information gap


def discretize(codes, bins: int = 20) -> np.ndarray:
    """Each column of ``codes`` (N, k) cut into ``bins`` equal-width bins between its min and max
    (``disentanglement_lib``'s histogram discretiser): (N, k) int."""
    codes = checks.array(codes, "codes", "discretize", dims="(N, k)", min_rows=1)
    checks.integer(bins, "bins", "discretize")
    out = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], bins)[1][:-1]
        out[:, j] = np.digitize(codes[:, j], edges)
    return out


def _mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """Discrete mutual information of two integer label arrays (N,), in nats (plug-in estimate)."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    joint = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(joint, (ai, bi), 1.0)
    joint /= joint.sum()
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def mutual_info_matrix(discrete_codes, factors) -> np.ndarray:
    """I(z_j; v_k) for every unit j and factor k: (N, k), (N, K) integer arrays -> (k, K), nats."""
    where = "mutual_info_matrix"
    discrete_codes = checks.array(discrete_codes, "discrete_codes", where, kind="int", min_rows=1)
    factors = checks.array(factors, "factors", where, kind="int", dims="(N, K)", min_rows=1)
    checks.same_rows(discrete_codes, factors, "discrete_codes and factors", where)
    return np.array([[_mutual_info(discrete_codes[:, j], factors[:, f]) for f in range(factors.shape[1])]
                     for j in range(discrete_codes.shape[1])])


def discrete_entropy(factors) -> np.ndarray:
    """H(v_k) of each column of ``factors`` (N, K), nats (plug-in)."""
    factors = checks.array(factors, "factors", "discrete_entropy", kind="int", dims="(N, K)", min_rows=1)
    return np.array([_mutual_info(factors[:, f], factors[:, f]) for f in range(factors.shape[1])])


@dataclass
class MIGResult:
    score: float  # mean over factors of the normalised gap
    per_factor: np.ndarray  # (K,) (I_top1 - I_top2) / H(v_k)
    mi: np.ndarray  # (k, K) I(z_j; v_k) in nats
    entropy: np.ndarray  # (K,) H(v_k) in nats

    @property
    def normalized_mi(self) -> np.ndarray:
        """I(z_j; v_k) / H(v_k), (k, K): the fraction of each factor's entropy a unit captures."""
        return self.mi / self.entropy


def mig(codes, factors, bins: int = 20) -> MIGResult:
    """Mutual information gap (Chen et al. 2018, eq. 6), the histogram estimator of Locatello et al. (2019):

        MIG = 1/K sum_k ( I(z_{j(k)}; v_k) - max_{j != j(k)} I(z_j; v_k) ) / H(v_k),

    j(k) the unit with the most information about factor k. 1 is perfect, 0 is no unit singled out.
    """
    codes, factors = _check_pool(codes, factors, "mig")
    checks.integer(bins, "bins", "mig")
    if codes.shape[1] < 2:
        checks.fail("mig", "codes", "(N, k) with at least two code units", checks.describe(codes),
                    "MIG is the gap between the two most informative units")
    h = discrete_entropy(factors)  # (K,)
    if (h == 0).any():
        checks.fail("mig", "factors", "varied: every factor must take at least two values in the pool",
                    f"constant column(s) {np.flatnonzero(h == 0).tolist()}", "use a pool where every factor varies")
    m = mutual_info_matrix(discretize(codes, bins), factors)  # (k, K)
    top = np.sort(m, axis=0)[::-1]
    gap = (top[0] - top[1]) / h
    return MIGResult(float(gap.mean()), gap, m, h)


def _check_pool(codes, factors, where: str, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``codes`` (N, k) finite reals and ``factors`` (N, K) non-negative integer indices, same N."""
    codes = checks.array(codes, "codes", where, dims="(N, k)", min_rows=min_rows)
    factors = checks.array(factors, "factors", where, kind="int", dims="(N, K) factor indices", min_rows=min_rows)
    checks.same_rows(codes, factors, "codes and factors", where,
                     "pass the codes of the images whose factors are given, in the same order")
    if factors.size and factors.min() < 0:
        checks.fail(where, "factors", "non-negative factor indices", f"a minimum of {factors.min()}")
    if codes.shape[1] < 1 or factors.shape[1] < 1:
        checks.fail(where, "codes and factors", "at least one column each", f"{codes.shape} and {factors.shape}")
    return codes, factors


# --------------------------------------------------------------------------------------------------
# The sampled metrics, on a pool of encoded images


@dataclass
class MetricResult:
    train_accuracy: float
    eval_accuracy: float
    extra: dict


class _Groups:
    """For each factor, the pool's indices sorted by the factor's value, to draw "images sharing factor
    k's value with image i" in one vectorised step."""

    def __init__(self, factors: np.ndarray):
        self.factors = factors
        self.order, self.start, self.count = [], [], []
        for f in range(factors.shape[1]):
            order = np.argsort(factors[:, f], kind="stable")
            values, start, count = np.unique(factors[order, f], return_index=True, return_counts=True)
            lookup_start = np.zeros(factors[:, f].max() + 1, dtype=np.int64)
            lookup_count = np.zeros_like(lookup_start)
            lookup_start[values], lookup_count[values] = start, count
            self.order.append(order)
            self.start.append(lookup_start)
            self.count.append(lookup_count)

    def partners(self, f: int, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each anchor index, a random pool index with the same value of factor ``f``."""
        v = self.factors[anchors, f]
        pick = (rng.random(len(anchors)) * self.count[f][v]).astype(np.int64)
        return self.order[f][self.start[f][v] + pick]


def _beta_vae_points(codes, groups, n, batch_size, rng):
    K = groups.factors.shape[1]
    points = np.zeros((n, codes.shape[1]))
    labels = rng.integers(K, size=n)
    for i in range(n):
        a = rng.integers(codes.shape[0], size=batch_size)
        b = groups.partners(labels[i], a, rng)
        points[i] = np.abs(codes[a] - codes[b]).mean(0)  # (k,) mean |z1 - z2| over the pairs
    return points, labels


def beta_vae_metric(codes, factors, seed: int = 0, n_train: int = 1000, n_eval: int = 500,
                    batch_size: int = 64) -> MetricResult:
    """The beta-VAE metric (Higgins et al. 2017, sec. 3): each point fixes a random factor k, draws
    ``batch_size`` pairs of images sharing v_k (other factors independent), and averages |z1 - z2| over
    the pairs; a logistic-regression classifier (scikit-learn's defaults, as in ``disentanglement_lib``,
    on standardised features so that the solver converges whatever the code's scale) predicts k from that
    vector. Returns train and held-out accuracy (chance: 1/K)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    codes, factors = _check_pool(codes, factors, "beta_vae_metric")
    for name, value in (("n_train", n_train), ("n_eval", n_eval), ("batch_size", batch_size)):
        checks.integer(value, name, "beta_vae_metric")
    codes, factors = codes.astype(np.float64), factors.astype(np.int64)
    rng = np.random.default_rng(seed)
    groups = _Groups(factors)
    xtr, ytr = _beta_vae_points(codes, groups, n_train, batch_size, rng)
    xev, yev = _beta_vae_points(codes, groups, n_eval, batch_size, rng)
    if np.unique(ytr).size < 2:
        checks.fail("beta_vae_metric", "factors and n_train", "at least two factors, each drawn among the "
                    "training points", f"{factors.shape[1]} factor(s) and n_train={n_train}",
                    "the classifier predicts which factor was fixed: give two factors or more, n_train >= 50")
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    clf.fit(xtr, ytr)
    return MetricResult(float(clf.score(xtr, ytr)), float(clf.score(xev, yev)), {})


def _factor_vae_votes(codes, groups, n, batch_size, scale, active, rng):
    K = groups.factors.shape[1]
    votes = np.zeros((codes.shape[1], K), dtype=np.int64)  # (units, factors)
    labels = rng.integers(K, size=n)
    idx = np.flatnonzero(active)
    for i in range(n):
        anchor = rng.integers(codes.shape[0], size=1)
        batch = groups.partners(labels[i], np.repeat(anchor, batch_size), rng)
        local = codes[batch][:, idx].var(0, ddof=1) / scale[idx] ** 2
        votes[idx[np.argmin(local)], labels[i]] += 1
    return votes


def factor_vae_metric(codes, factors, seed: int = 0, n_train: int = 800, n_eval: int = 400,
                      batch_size: int = 64, prune: float = 0.05) -> MetricResult:
    """The FactorVAE metric (Kim & Mnih 2018, sec. 4): standardise each unit by its standard deviation
    over the pool, drop units whose standard deviation is below ``prune`` (collapsed to the prior; the
    threshold of ``disentanglement_lib``'s configuration), then for each point fix a random factor over a
    batch of ``batch_size`` images and vote for the unit of smallest normalised variance; a majority-vote
    classifier maps units to factors. Returns train and held-out accuracy (chance about 1/K)."""
    codes, factors = _check_pool(codes, factors, "factor_vae_metric")
    for name, value in (("n_train", n_train), ("n_eval", n_eval), ("batch_size", batch_size)):
        checks.integer(value, name, "factor_vae_metric", minimum=2 if name == "batch_size" else 1)
    checks.number(prune, "prune", "factor_vae_metric", minimum=0)
    codes, factors = codes.astype(np.float64), factors.astype(np.int64)
    rng = np.random.default_rng(seed)
    scale = codes.std(0, ddof=1)
    active = scale >= prune
    if not active.any():
        return MetricResult(0.0, 0.0, {"active_units": 0})
    groups = _Groups(factors)
    tr = _factor_vae_votes(codes, groups, n_train, batch_size, scale, active, rng)
    ev = _factor_vae_votes(codes, groups, n_eval, batch_size, scale, active, rng)
    classifier = tr.argmax(1)  # unit -> factor
    units = np.arange(codes.shape[1])
    return MetricResult(float(tr[units, classifier].sum() / tr.sum()), float(ev[units, classifier].sum() / ev.sum()),
                        {"active_units": int(active.sum()), "unit_to_factor": classifier})
