"""One knob from autoencoder to VAE (chapter 5): the regularised autoencoder, densities fitted to the
codes afterwards, and how evenly a decoder changes along straight lines in code space.

- :func:`rae_loss` — the regularised autoencoder of Ghosh et al. 2020 ("From variational to deterministic
  autoencoders", eq. 11, RAE-L2) with the book's Bernoulli likelihood: a deterministic code, a penalty
  on its size instead of the KL term, and weight decay on the decoder.
- :class:`MixtureFit` and :func:`fit_mixture` — a Gaussian mixture fitted to codes (scikit-learn's EM),
  its number of components chosen by the log-likelihood of held-out codes. Like the VAE's prior it has
  ``log_prob`` and ``sample``: a density fitted afterwards is just another prior (the RAE's "ex-post
  density estimation", and in miniature the second stage of the two-stage VAE and of latent diffusion).
- :func:`path_evenness` and :func:`off_data_fraction` — two scale-free measures of the thread's claim that
  an AE's latent space "is not continuous".
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from . import checks
from .objectives import bernoulli_log_prob
from .train import TrainConfig

__all__ = ["SECOND_STAGE_TRAIN", "rae_loss", "MixtureFit", "MixtureSelection", "fit_mixture", "path_evenness", "off_data_fraction",
           "codes", "decode_mean", "KnobData", "knob_data", "measure", "measure_all"]


def rae_loss(model, x: torch.Tensor, generator: torch.Generator | None = None, code_weight: float = 1.0,
             decoder_l2: float = 1e-3) -> torch.Tensor:
    """Regularised AE (Ghosh et al. 2020, eq. 11 with L_REG = ||theta_dec||^2, "RAE-L2"), in nats per image:

        -log p(x | z) + code_weight * ||z||^2 / 2 + decoder_l2 * ||theta_decoder||^2,   z = encoder(x),

    with the Bernoulli decoder of the book's VAE (log-likelihood summed over the pixels), the code penalty
    summed over the latents, both averaged over the batch; the weight penalty once per batch. With
    ``code_weight = 1`` the penalty is the mu^2/2 part of the VAE's KL term: the RAE replaces the VAE's
    noise by an explicit penalty on the code's size and the decoder's weights. ``generator`` is unused
    (the model is deterministic) and accepted for the training loop's signature."""
    where = "rae_loss"
    code_weight = checks.number(code_weight, "code_weight", where, minimum=0)
    decoder_l2 = checks.number(decoder_l2, "decoder_l2", where, minimum=0)
    x = checks.model_input(model, x, where)
    z = model.encode(x)  # (B, k)
    logits = model.decoder(z)  # (B, D) pre-sigmoid
    rec = -bernoulli_log_prob(x, logits)  # (B,) summed over pixels
    code = 0.5 * (z**2).sum(-1)  # (B,) summed over latents
    weights = sum((p**2).sum() for name, p in model.decoder.named_parameters() if name.endswith("weight"))
    return (rec + code_weight * code).mean() + decoder_l2 * weights


@dataclass
class MixtureFit:
    """A Gaussian mixture over codes: ``weights`` (m,), ``means`` (m, k), ``covs`` (m, k, k), float64."""

    weights: torch.Tensor
    means: torch.Tensor
    covs: torch.Tensor

    @property
    def n_components(self) -> int:
        return self.weights.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None, dtype=torch.float32) -> torch.Tensor:
        """``n`` draws (n, k): a component by its weight, then mean + L eps (cov = L L^T, eps ~ N(0, I))."""
        checks.integer(n, "n", "MixtureFit.sample")
        checks.generator(generator, "MixtureFit.sample")
        comp = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)  # (n, k)
        chol = torch.linalg.cholesky(self.covs)  # (m, k, k)
        z = self.means[comp] + torch.einsum("nij,nj->ni", chol[comp], eps)  # (n, k)
        return z.to(dtype)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Log-density of each row of ``z`` (N, k) -> (N,), float64 (logsumexp over the components)."""
        z = _codes(z, "MixtureFit.log_prob", self.dim)
        chol = torch.linalg.cholesky(self.covs)  # (m, k, k)
        diff = z.double()[None] - self.means[:, None]  # (m, N, k)
        sol = torch.linalg.solve_triangular(chol, diff.transpose(1, 2), upper=False)  # (m, k, N)
        maha = (sol**2).sum(1)  # (m, N)
        logdet = 2 * torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(1)  # (m,)
        comp = -0.5 * (self.dim * math.log(2 * math.pi) + logdet[:, None] + maha)  # (m, N)
        return torch.logsumexp(comp + torch.log(self.weights)[:, None], 0)


@dataclass
class MixtureSelection:
    """The mixture chosen by held-out likelihood, and every candidate's mean held-out log-density."""

    best: MixtureFit
    val_log_lik: dict[int, float] = field(default_factory=dict)  # components -> nats per code


def _codes(z, where: str, dim: int | None = None, min_rows: int = 1, name: str = "z") -> torch.Tensor:
    """``z`` must be finite float codes (N, k), at least ``min_rows`` of them, with ``dim`` columns."""
    z = checks.tensor(z, name, where, kind="float", ndim=2, dims="(N, k)")
    if z.shape[0] < min_rows:
        checks.fail(where, name, f"at least {min_rows} codes", checks.describe(z))
    if dim is not None and z.shape[1] != dim:
        checks.fail(where, name, f"codes (N, {dim}) like the others", checks.describe(z))
    return z


def fit_mixture(z_fit: torch.Tensor, z_val: torch.Tensor, components: Sequence[int] = (1, 2, 4, 8, 16, 32),
                seed: int = 0, max_iter: int = 200) -> MixtureSelection:
    """Fit a full-covariance Gaussian mixture (scikit-learn's ``GaussianMixture``, EM from k-means++
    seeded by ``seed``) for each number of components, and keep the one whose mean log-density of the
    held-out codes ``z_val`` is highest. Both code sets are (N, k); fit and validation must not overlap."""
    from sklearn.mixture import GaussianMixture

    where = "fit_mixture"
    z_fit = _codes(z_fit, where, min_rows=2, name="z_fit")
    z_val = _codes(z_val, where, z_fit.shape[1], name="z_val")
    comps = [checks.integer(c, "components", where) for c in components]
    if not comps or any(c > z_fit.shape[0] for c in comps):
        checks.fail(where, "components", "a non-empty list of counts, none above the number of codes",
                    repr(tuple(components)))
    checks.integer(seed, "seed", where, minimum=0)
    fit_np, val_np = z_fit.double().numpy(), z_val.double().numpy()
    scores, fits = {}, {}
    for c in comps:
        gm = GaussianMixture(c, covariance_type="full", random_state=seed, max_iter=max_iter,
                             init_params="k-means++").fit(fit_np)
        scores[c] = float(gm.score(val_np))  # mean log-density per held-out code
        fits[c] = MixtureFit(torch.from_numpy(gm.weights_ / gm.weights_.sum()), torch.from_numpy(gm.means_),
                             torch.from_numpy(gm.covariances_))
    best = max(scores, key=scores.get)
    return MixtureSelection(fits[best], scores)


@torch.no_grad()
def path_evenness(decode: Callable[[torch.Tensor], torch.Tensor], za: torch.Tensor, zb: torch.Tensor,
                  steps: int = 16) -> dict[str, torch.Tensor]:
    """Decode the straight line from each ``za`` to ``zb`` (N, k) at ``steps + 1`` evenly spaced points and
    measure, per pair, how the decoded image changes along it (Euclidean distances between mean images):

    - ``largest_step``: the largest single step's share of the path's length: ``1 / steps`` when the image
      changes evenly, 1 when it jumps all at once;
    - ``detour``: the path's length over the distance between its two end images (1 = a straight line
      in image space).

    Both are scale-free, so codes of any scale compare. Returns (N,) tensors."""
    where = "path_evenness"
    checks.integer(steps, "steps", where, minimum=2)
    za = _codes(za, where, name="za")
    zb = _codes(zb, where, name="zb")
    if za.shape != zb.shape:
        checks.fail(where, "za and zb", "codes of the same shape (N, k)", f"{tuple(za.shape)} and {tuple(zb.shape)}")
    t = torch.linspace(0, 1, steps + 1, dtype=za.dtype)  # (T,)
    path = za[:, None] + t[None, :, None] * (zb - za)[:, None]  # (N, T, k)
    images = decode(path.reshape(-1, za.shape[1])).reshape(za.shape[0], steps + 1, -1)  # (N, T, D)
    step = (images[:, 1:] - images[:, :-1]).norm(dim=-1)  # (N, steps)
    length = step.sum(1).clamp_min(1e-12)  # (N,)
    return {"largest_step": step.max(1).values / length,
            "detour": length / (images[:, -1] - images[:, 0]).norm(dim=-1).clamp_min(1e-12)}


@torch.no_grad()
def off_data_fraction(z_ref: torch.Tensor, z_query: torch.Tensor, z_calib: torch.Tensor,
                      quantile: float = 0.99, chunk: int = 1024) -> float:
    """The share of ``z_query`` codes that lie where no training code lies: farther from their nearest
    code in ``z_ref`` than ``quantile`` of held-out data codes ``z_calib`` are from theirs. Scale-free (a
    radius calibrated on real codes of the same model); about ``1 - quantile`` for codes like the data's."""
    where = "off_data_fraction"
    z_ref = _codes(z_ref, where, name="z_ref")
    z_query = _codes(z_query, where, z_ref.shape[1], name="z_query")
    z_calib = _codes(z_calib, where, z_ref.shape[1], name="z_calib")
    quantile = checks.number(quantile, "quantile", where, minimum=0)
    if quantile >= 1:
        checks.fail(where, "quantile", "a number in [0, 1)", repr(quantile))
    checks.integer(chunk, "chunk", where)

    def nearest(q: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.cdist(c.double(), z_ref.double()).min(1).values for c in q.split(chunk)])

    radius = torch.quantile(nearest(z_calib), quantile)
    return float((nearest(z_query) > radius).double().mean())


# ------------------------------------------------------------------------------------------ evaluation
def _is_vae(model) -> bool:
    from .models import VAE
    return isinstance(model, VAE)


@torch.no_grad()
def codes(model, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """The code of each image (N, D) -> (N, k): the AE's encoder output, or the VAE's posterior mean."""
    x = checks.model_input(model, x, "codes")
    model.eval()
    fn = (lambda b: model.encode(b)[0]) if _is_vae(model) else model.encode
    return torch.cat([fn(b) for b in x.split(batch_size)])


@torch.no_grad()
def decode_mean(model, z: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """Mean images (N, D) in [0, 1] decoded from codes ``z`` (N, k): sigmoid of the decoder's logits."""
    z = _codes(z, "decode_mean")
    model.eval()
    return torch.cat([torch.sigmoid(model.decoder(b)) for b in z.split(batch_size)])


@dataclass
class KnobData:
    """What every model of the sweep is measured on, drawn once so that all models share it."""

    train: torch.Tensor  # (N, 784) grey training images
    train_labels: torch.Tensor  # (N,)
    test: torch.Tensor  # (M, 784) grey test images
    test_labels: torch.Tensor  # (M,)
    test_binary: torch.Tensor  # (M, 784) one binarized draw of each test image
    real: torch.Tensor  # (n, 784) the real images samples are compared with
    pair_a: torch.Tensor  # (P, 784) held-out images of one class ...
    pair_b: torch.Tensor  # (P, 784) ... and of another: the interpolation pairs
    normal: torch.Tensor  # (A, 784) in-distribution images for the anomaly test
    anomalies: torch.Tensor  # (A, 784) out-of-distribution images
    z_prior: torch.Tensor  # (n, k) shared N(0, I) draws
    fit_index: torch.Tensor  # training rows the mixture is fitted on
    val_index: torch.Tensor  # other training rows that choose its number of components
    seed: int = 0


@functools.lru_cache(maxsize=2)
def knob_data(seed: int = 0, n: int = 5000, k: int = 16) -> KnobData:
    """Chapter 4's evaluation draws, made once per process: ``n`` real test images (``test[:n]``), ``n``
    cross-class pairs of held-out images (``test[n:]``), ``n`` draws from N(0, I_k) (generator 16, as in
    chapters 3 and 4), one binarized draw of every test image, the digits against as many test images for
    the anomaly test, and disjoint training rows to fit and choose the mixture (10,000 and 5,000)."""
    from .data import binarize, load_digits_28, load_fashion_mnist
    from .latent import cross_class_pairs, standard_normal_codes

    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    g = torch.Generator().manual_seed(16)
    held, held_labels = test.images[n:], test.labels[n:]
    pair_i, pair_j = cross_class_pairs(held_labels, n, g)
    z_prior = standard_normal_codes(n, k, g)
    digits = load_digits_28()
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(train)))
    return KnobData(train=train.images, train_labels=train.labels, test=test.images, test_labels=test.labels,
                    test_binary=binarize(test.images, torch.Generator().manual_seed(5)), real=test.images[:n],
                    pair_a=held[pair_i], pair_b=held[pair_j], normal=test.images[: len(digits)],
                    anomalies=digits.images, z_prior=z_prior, fit_index=perm[:10000], val_index=perm[10000:15000],
                    seed=seed)


def _measure_state(job, state_dict: dict, classifier_state: dict, kwargs: dict) -> dict[str, float]:
    """Worker side of :func:`measure_all`: one thread, the shared draws built here, one model measured."""
    from .jobs import JobResult
    from .metrics import EvalClassifier, TrainedClassifier

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        clf_model = EvalClassifier()
        clf_model.load_state_dict(classifier_state)
        clf = TrainedClassifier(clf_model.eval(), float("nan"), float("nan"))
        return measure(JobResult(job, state_dict, None).model(), knob_data(), clf, **kwargs)
    finally:
        torch.set_num_threads(threads)


def measure_all(results: Sequence, classifier, n_jobs: int | None = None, **kwargs) -> list[dict[str, float]]:
    """:func:`measure` for each trained job (``aevae.jobs.JobResult``), in parallel worker processes with
    one thread each (so the numbers do not depend on the number of workers), on :func:`knob_data`."""
    from .jobs import parallel_map

    clf_state = {k: v.detach().cpu() for k, v in classifier.model.state_dict().items()}
    calls = [(r.job, r.state_dict, clf_state, kwargs) for r in results]
    return parallel_map(_measure_state, calls, n_jobs)


#: The second stage's budget: 20 epochs over the 10,000 codes the mixture is fitted to (1,580 steps). At
#: 10 epochs it lost to a single fitted Gaussian on the AE's and the VAE's codes.
SECOND_STAGE_TRAIN = TrainConfig(epochs=20, batch_size=128, lr=1e-3, seed=0)


@torch.no_grad()
def measure(model, data: KnobData, classifier, components: Sequence[int] = (1, 8, 32),
            iwae_k: int = 100, n_iwae: int = 500, second_stage: TrainConfig | None = SECOND_STAGE_TRAIN,
            show: int = 0) -> dict[str, float]:
    """One model's row of the knob chapter's table (nats per image; NaN where a measure is undefined).

    rate / distortion: KL and -E_q log p(x|z) on the binarized test images (the AE: rate undefined,
    distortion at its code); ``mse``: per pixel against the grey test images; ``neg_iwae``: -L_K on the
    first ``n_iwae`` binarized test images (VAEs only); sample quality (Fréchet, precision, recall) of codes
    drawn from N(0, I), a Gaussian fitted to the training codes, a mixture chosen by held-out
    likelihood and a second-stage VAE trained on the codes the mixture is fitted to
    (:mod:`aevae.second_stage`; ``second_stage=None`` leaves it out), and of interpolation midpoints; smoothness (path evenness, midpoints off the data); the
    linear probe's test accuracy; anomaly AUROCs by reconstruction error and,
    for VAEs, by -L_10 and -L_10 minus the binarized image's entropy. ``show`` > 0 adds ``row["images"]``:
    the first ``show`` decoded images of each way of drawing codes, {way: (show, D)}, for a figure."""
    from .latent import fit_gaussian
    from .metrics import auroc, sample_quality_many
    from .objectives import elbo
    from .vae_eval import binarized_entropy, iwae_in_batches

    g = torch.Generator().manual_seed(data.seed)
    vae = _is_vae(model)
    nan = float("nan")
    row: dict[str, float] = {}
    if vae:
        terms = [elbo(model, b, g) for b in data.test_binary.split(2000)]
        row["rate"] = float(torch.cat([t.kl.sum(-1) for t in terms]).mean())
        row["distortion"] = float(-torch.cat([t.log_px_z for t in terms]).mean())
        row["neg_iwae"] = -float(iwae_in_batches(model, data.test_binary[:n_iwae], iwae_k, g).mean())
    else:
        z = codes(model, data.test_binary)
        row["rate"], row["neg_iwae"] = nan, nan
        row["distortion"] = float(-bernoulli_log_prob(data.test_binary, model.decoder(z)).mean())
    z_train = codes(model, data.train)
    row["mse"] = float(((decode_mean(model, codes(model, data.test)) - data.test) ** 2).mean())
    n = data.real.shape[0]
    mixture = fit_mixture(z_train[data.fit_index], z_train[data.val_index], components, seed=data.seed,
                          max_iter=100)
    row["mixture_components"] = mixture.best.n_components
    row["mixture_val_loglik"] = mixture.val_log_lik[mixture.best.n_components]  # nats per held-out code
    draws = {"prior": data.z_prior, "gaussian": fit_gaussian(z_train).sample(n, g),
             "mixture": mixture.best.sample(n, g)}
    if second_stage is not None:  # a density learned on the same codes as the mixture (Dai & Wipf 2019)
        from .second_stage import fit_second_stage
        stage = fit_second_stage(z_train[data.fit_index], second_stage, init_seed=data.seed)
        draws["two_stage"] = stage.sample(n, torch.Generator().manual_seed(data.seed + 2))  # own stream
        row["two_stage_gamma"] = stage.gamma
    za, zb = codes(model, data.pair_a), codes(model, data.pair_b)
    draws["midpoint"] = 0.5 * (za + zb)
    decoded = {src: decode_mean(model, z) for src, z in draws.items()}
    quality = sample_quality_many(classifier, data.real, decoded)
    if show:
        checks.integer(show, "show", "measure", maximum=n)
        row["images"] = {src: x[:show].clone() for src, x in decoded.items()}
    for src, q in quality.items():
        row.update({f"{src}_frechet": q["frechet"], f"{src}_precision": q["precision"], f"{src}_recall": q["recall"]})
    even = path_evenness(lambda z: decode_mean(model, z), za[:1000], zb[:1000])
    row["largest_step"] = float(even["largest_step"].mean())
    row["detour"] = float(even["detour"].mean())
    z_test = codes(model, data.test[:5000])
    row["midpoints_off_data"] = off_data_fraction(z_train[data.fit_index], draws["midpoint"], z_test)
    from .metrics import linear_probe
    row["probe"] = linear_probe(z_train, data.train_labels, codes(model, data.test), data.test_labels)
    err = {name: ((decode_mean(model, codes(model, x)) - x) ** 2).mean(1)
           for name, x in (("normal", data.normal), ("anomalies", data.anomalies))}
    row["auroc_recon"] = auroc(err["normal"], err["anomalies"])
    if vae:
        from .data import binarize
        gb = torch.Generator().manual_seed(data.seed + 1)
        nll = {name: -iwae_in_batches(model, binarize(x, gb), 10, g, batch_size=500)
               for name, x in (("normal", data.normal), ("anomalies", data.anomalies))}
        row["auroc_nll"] = auroc(nll["normal"], nll["anomalies"])
        row["auroc_nll_corrected"] = auroc(nll["normal"] - binarized_entropy(data.normal),
                                           nll["anomalies"] - binarized_entropy(data.anomalies))
    else:
        row["auroc_nll"] = row["auroc_nll_corrected"] = nan
    return row
