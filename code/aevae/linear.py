"""The linear autoencoder of chapter 2, and how to compare what it learns with PCA.

A linear AE, ``z = W_e x + b_e`` and ``x_hat = W_d z + b_d`` trained on squared error, reaches PCA's
reconstruction error and its decoder spans PCA's top-k subspace (Baldi & Hornik 1989), but the basis
it learns is any invertible mix of the principal directions: at a minimum ``W_d = U_k C`` and
``W_e = C^{-1} U_k^T`` for an arbitrary invertible ``C`` (k, k). The functions here measure that and
undo it:

- :func:`linear_ae` and :data:`LINEAR_TRAIN` — the model and its step-decayed Adam budget, trained
  with :func:`fit_stages` (the book's :func:`aevae.train.fit`, once per stage);
- :func:`column_cosines`, :func:`nearest_component_cosines` — how far the decoder's columns are from
  an orthogonal set, and from single principal directions;
- :func:`fit_linear_map`, :func:`r2_score` — the codes as a linear function of PCA's coordinates;
- :func:`decoder_singular_vectors` — the left singular vectors of ``W_d``: the principal directions
  only for an L2-regularised linear AE (Kunin et al. 2019), not in general;
- :func:`principal_directions_in_span` — PCA restricted to the decoder's column space, which recovers
  the principal directions from any linear AE at a minimum, with one pass over the data.

Shapes: N = examples, D = data dimension, k = latent dimension. Matrices are returned in float64.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from . import checks
from .models import Autoencoder, NetConfig
from .train import History, TrainConfig, fit

__all__ = [
    "LINEAR_TRAIN",
    "linear_config",
    "linear_ae",
    "step_decay",
    "fit_stages",
    "LinearRun",
    "train_linear_ae",
    "decoder_matrix",
    "encoder_matrix",
    "set_linear_weights",
    "column_cosines",
    "off_diagonal",
    "nearest_component_cosines",
    "LinearMap",
    "fit_linear_map",
    "r2_score",
    "decoder_singular_vectors",
    "principal_directions_in_span",
    "matched_cosines",
]


def linear_config(k: int, input_dim: int = 784) -> NetConfig:
    """No hidden layer, no nonlinearity anywhere: encoder and decoder are single affine maps."""
    return NetConfig(input_dim=input_dim, hidden=(), latent_dim=k, activation="identity", output="identity")


def linear_ae(k: int, input_dim: int = 784) -> Autoencoder:
    """The linear AE with a ``k``-dimensional code, built from the book's :class:`Autoencoder`."""
    return Autoencoder(linear_config(k, input_dim))


def step_decay(base: TrainConfig, lrs: Sequence[float], epochs_per_stage: int) -> tuple[TrainConfig, ...]:
    """Stages of ``base`` with the learning rates ``lrs`` in turn, ``epochs_per_stage`` epochs each.

    Stage ``i`` shuffles with seed ``base.seed + i`` so that no two stages repeat the same order.
    """
    if not isinstance(base, TrainConfig):
        checks.fail("step_decay", "base", "a TrainConfig", checks.describe(base), kind=TypeError)
    if isinstance(lrs, (str, bytes)) or not hasattr(lrs, "__len__"):
        checks.fail("step_decay", "lrs", "a sequence of learning rates", checks.describe(lrs), kind=TypeError)
    if not lrs:
        raise ValueError("step_decay: lrs must name at least one learning rate; got none.")
    for lr in lrs:
        checks.number(lr, "every learning rate in lrs", "step_decay", minimum=0, strict=True)
    checks.integer(epochs_per_stage, "epochs_per_stage", "step_decay")
    return tuple(
        TrainConfig(epochs=epochs_per_stage, batch_size=base.batch_size, lr=lr, weight_decay=base.weight_decay,
                    seed=base.seed + i, grad_clip=base.grad_clip)
        for i, lr in enumerate(lrs)
    )


# The linear AE's budget: Adam, batch 128 as in BOOK_TRAIN, the learning rate divided by about 3 every
# 5 epochs (20 epochs in all). A constant rate leaves the weights jittering around the minimum; the
# decay removes most of that, and what is left of the gap to PCA is the slow part of the optimisation
# (directions with small or nearly equal eigenvalues), not the model.
LINEAR_TRAIN = step_decay(TrainConfig(batch_size=128, seed=0), (3e-3, 1e-3, 3e-4, 1e-4), epochs_per_stage=5)


def fit_stages(
    model: nn.Module,
    loss_fn: Callable,
    x: torch.Tensor,
    stages: Sequence[TrainConfig] = LINEAR_TRAIN,
    device: torch.device | str | None = None,
    desc: str = "training",
    after_stage: Callable[[int, nn.Module], None] | None = None,
) -> History:
    """:func:`aevae.train.fit` once per stage (a fresh Adam each time); one History for the whole run.

    ``after_stage(i, model)`` is called after stage ``i`` (e.g. to record a test error).
    """
    if not stages:
        raise ValueError("fit_stages: stages must hold at least one TrainConfig; got none.")
    for config in stages:
        if not isinstance(config, TrainConfig):
            checks.fail("fit_stages", "every stage", "a TrainConfig", checks.describe(config), kind=TypeError)
    total = History()
    for i, config in enumerate(stages):
        h = fit(model, loss_fn, x, config, device=device, desc=f"{desc} ({i + 1}/{len(stages)})")
        total.loss.extend(h.loss)
        total.seconds += h.seconds
        total.steps += h.steps
        if after_stage is not None:
            after_stage(i, model)
    return total


@dataclass
class LinearRun:
    """What :func:`train_linear_ae` returns: the trained model, its random initial decoder ``w_init``
    (D, k), the (test MSE, training MSE) after each stage, and the History of the whole run."""

    model: Autoencoder
    w_init: torch.Tensor
    curve: list[tuple[float, float]]
    history: History


def _shared(x):
    """A float32 numpy array as a tensor over the same memory (no copy), anything else as it is. joblib hands
    large numpy arguments to worker processes as read-only memory maps: read, never written, so torch's
    warning about non-writable arrays does not apply."""
    if not isinstance(x, np.ndarray):
        return x
    if x.dtype != np.float32:
        x = x.astype(np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(x)


def train_linear_ae(k: int, x_train: torch.Tensor | np.ndarray, x_test: torch.Tensor | np.ndarray,
                    stages: Sequence[TrainConfig] = LINEAR_TRAIN, seed: int = 0) -> LinearRun:
    """One linear AE (``torch.manual_seed(seed)``, then :func:`linear_ae`) trained on the centred images
    ``x_train`` by :func:`fit_stages` with the mean squared error, on **one CPU thread** (restored
    afterwards), so that its numbers do not depend on where it runs: chapter 2 trains its AEs side by side
    in worker processes with :func:`aevae.jobs.parallel_map`."""
    from .objectives import ae_loss, mse_per_pixel
    from .train import batched

    checks.integer(k, "k", "train_linear_ae")
    x_train, x_test = _shared(x_train), _shared(x_test)
    x_train = checks.tensor(x_train, "x_train", "train_linear_ae", ndim=2, dims="(N, D)")
    x_test = checks.batch(x_test, x_train.shape[1], "x_test", "train_linear_ae")

    def mse_on(model, x):
        model.eval()
        return float(batched(lambda b: mse_per_pixel(model(b).x_hat, b), x).mean())

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        model = linear_ae(k, x_train.shape[1])
        w_init = decoder_matrix(model)  # (D, k)
        curve: list[tuple[float, float]] = []
        hist = fit_stages(model, ae_loss, x_train, stages, desc=f"linear AE, k={k}",
                          after_stage=lambda i, m: curve.append((mse_on(m, x_test), mse_on(m, x_train))))
    finally:
        torch.set_num_threads(threads)
    return LinearRun(model.eval(), w_init, curve, hist)


def _linear_ae(model, where: str) -> None:
    if not isinstance(model, Autoencoder):
        checks.fail(where, "model", "a linear Autoencoder (aevae.linear.linear_ae(k))", checks.describe(model),
                    kind=TypeError)


def _matrix(w, name: str, where: str, dims: str) -> torch.Tensor:
    return checks.tensor(w, name, where, ndim=2, dims=dims)


def _single_linear(module: nn.Module) -> nn.Linear:
    layers = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if len(layers) != 1:
        raise ValueError(f"expected exactly one nn.Linear (a linear AE), found {len(layers)}.")
    return layers[0]


def decoder_matrix(model: Autoencoder) -> torch.Tensor:
    """``W_d`` (D, k): column j is the image that latent unit j adds to the output per unit of z_j."""
    _linear_ae(model, "decoder_matrix")
    if model.config.output != "identity" or model.config.hidden:
        raise ValueError("decoder_matrix needs a linear AE (hidden=(), output='identity').")
    return _single_linear(model.decoder).weight.detach().double().cpu()


def encoder_matrix(model: Autoencoder) -> torch.Tensor:
    """``W_e`` (k, D): row j is the filter whose inner product with x gives latent unit j."""
    _linear_ae(model, "encoder_matrix")
    if model.config.hidden:
        raise ValueError("encoder_matrix needs a linear AE (hidden=()).")
    return _single_linear(model.encoder).weight.detach().double().cpu()


@torch.no_grad()
def set_linear_weights(model: Autoencoder, w_enc: torch.Tensor, w_dec: torch.Tensor,
                       b_enc: torch.Tensor | None = None, b_dec: torch.Tensor | None = None) -> Autoencoder:
    """Load ``W_e`` (k, D), ``W_d`` (D, k) and the biases (zero if None) into a linear AE, in place.

    E.g. PCA's solution: ``set_linear_weights(model, U_k.T, U_k)`` on centred data.
    """
    _linear_ae(model, "set_linear_weights")
    _matrix(w_enc, "w_enc", "set_linear_weights", "(k, D)")
    _matrix(w_dec, "w_dec", "set_linear_weights", "(D, k)")
    enc, dec = _single_linear(model.encoder), _single_linear(model.decoder)
    for name, b, layer in (("b_enc", b_enc, enc), ("b_dec", b_dec, dec)):
        if b is not None:
            checks.tensor(b, name, "set_linear_weights", ndim=1, dims=f"({layer.bias.shape[0]},)")
            if b.shape != layer.bias.shape:
                checks.fail("set_linear_weights", name, f"a bias of shape {tuple(layer.bias.shape)}", checks.describe(b))
    if tuple(w_enc.shape) != tuple(enc.weight.shape) or tuple(w_dec.shape) != tuple(dec.weight.shape):
        checks.fail("set_linear_weights", "w_enc and w_dec", "the shapes of the model's maps",
                    f"{tuple(w_enc.shape)} and {tuple(w_dec.shape)} (expected W_e {tuple(enc.weight.shape)} and W_d "
                    f"{tuple(dec.weight.shape)})", "W_e is (k, D) and W_d is (D, k), e.g. U_k.T and U_k")
    enc.weight.copy_(w_enc)
    dec.weight.copy_(w_dec)
    enc.bias.copy_(b_enc if b_enc is not None else torch.zeros_like(enc.bias))
    dec.bias.copy_(b_dec if b_dec is not None else torch.zeros_like(dec.bias))
    return model


def _unit_columns(w: torch.Tensor, name: str = "w", where: str = "column_cosines") -> torch.Tensor:
    _matrix(w, name, where, "(D, k)")
    w = w.double()
    norms = w.norm(dim=0, keepdim=True)
    if (norms == 0).any():
        checks.fail(where, name, "columns of non-zero length", "a column that is zero: its direction is undefined")
    return w / norms


def column_cosines(w: torch.Tensor) -> torch.Tensor:
    """Cosines between the columns of ``w`` (D, k): a (k, k) matrix with ones on the diagonal.

    An orthogonal set of columns (as PCA's) gives the identity.
    """
    u = _unit_columns(w)
    return u.T @ u


def off_diagonal(m: torch.Tensor) -> torch.Tensor:
    """The off-diagonal entries of a square matrix, flattened: (k, k) -> (k (k - 1),)."""
    checks.tensor(m, "m", "off_diagonal", kind="any", dims="(k, k)")
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        checks.fail("off_diagonal", "m", "a square matrix (k, k)", checks.describe(m), "expected a square matrix")
    return m[~torch.eye(m.shape[0], dtype=torch.bool, device=m.device)]


def nearest_component_cosines(w: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
    """For each column of ``w`` (D, k), |cos| with the single principal direction it is closest to.

    ``components`` (D, R) holds orthonormal directions (e.g. ``pca.components``). 1 means the column
    *is* a principal direction (up to sign and scale); a mix of several gives less.
    """
    where = "nearest_component_cosines"
    _matrix(components, "components", where, "(D, R)")
    u = _unit_columns(w, "w", where)
    checks.same_rows(u, components, "w and components", where, "both hold D-dimensional directions as columns")
    if components.shape[1] < 1:
        checks.fail(where, "components", "at least one direction (D, R >= 1)", checks.describe(components))
    return (components.double().T @ u).abs().max(dim=0).values  # (k,)


@dataclass
class LinearMap:
    """``y ≈ x @ A + b``: ``A`` (p, q), ``b`` (q,)."""

    A: torch.Tensor
    b: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.double() @ self.A + self.b


def fit_linear_map(x: torch.Tensor, y: torch.Tensor) -> LinearMap:
    """Least-squares affine map from ``x`` (N, p) to ``y`` (N, q), in float64."""
    _matrix(x, "x", "fit_linear_map", "(N, p)")
    _matrix(y, "y", "fit_linear_map", "(N, q)")
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        checks.fail("fit_linear_map", "x and y", "(N, p) and (N, q) with the same N >= 1",
                    f"{tuple(x.shape)} and {tuple(y.shape)}", "x (N, p) and y (N, q) must have the same N")
    x64, y64 = x.double(), y.double()
    design = torch.cat([x64, torch.ones(x64.shape[0], 1, dtype=torch.float64)], dim=1)  # (N, p + 1)
    coef = torch.linalg.lstsq(design, y64).solution  # (p + 1, q)
    return LinearMap(coef[:-1], coef[-1])


def r2_score(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Coefficient of determination over all outputs together, 1 - SS_res / SS_tot, where SS_tot is
    taken about each output's mean (scikit-learn's ``multioutput="variance_weighted"``)."""
    checks.tensor(pred, "pred", "r2_score", ndim=2, dims="(N, q)")
    checks.tensor(target, "target", "r2_score", ndim=2, dims="(N, q)")
    if pred.shape != target.shape:
        checks.fail("r2_score", "pred and target", "of the same shape", f"{tuple(pred.shape)} vs {tuple(target.shape)}",
                    "pred and target shapes differ: compare predictions with their own targets")
    if target.shape[0] < 2:
        checks.fail("r2_score", "target", "at least two rows (a variance)", checks.describe(target))
    p, t = pred.double(), target.double()
    ss_res = ((t - p) ** 2).sum()
    ss_tot = ((t - t.mean(0)) ** 2).sum()
    return float(1 - ss_res / ss_tot)


def decoder_singular_vectors(w_dec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Left singular vectors (D, k) and singular values (k,) of ``W_d``, by decreasing singular value.

    For an L2-regularised linear AE at a minimum these are the principal directions (Kunin et al.
    2019); without regularisation ``W_d = U_k C`` with an arbitrary ``C`` and they are not.
    """
    _matrix(w_dec, "w_dec", "decoder_singular_vectors", "(D, k)")
    u, s, _ = torch.linalg.svd(w_dec.double(), full_matrices=False)
    return u, s


def principal_directions_in_span(w_dec: torch.Tensor, x_centred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PCA of the data restricted to the column space of ``w_dec`` (D, k).

    With ``Q`` an orthonormal basis of that space, the data's coordinates ``x Q`` (N, k) have a k x k
    covariance whose eigenvectors ``R`` rotate ``Q`` into the principal directions: returns ``Q R``
    (D, k) and the variances along them (k,), both by decreasing variance. If the AE spans PCA's top-k
    subspace, these are PCA's components and eigenvalues — at the cost of one pass over the data and a
    k x k eigenproblem instead of a D x D one. ``x_centred`` (N, D) must be centred (as the AE's input).
    """
    where = "principal_directions_in_span"
    _matrix(w_dec, "w_dec", where, "(D, k)")
    _matrix(x_centred, "x_centred", where, "(N, D)")
    if x_centred.shape[1] != w_dec.shape[0] or x_centred.shape[0] < 2 or min(w_dec.shape) < 1:
        checks.fail(where, "x_centred and w_dec", "(N >= 2, D) data and (D, k >= 1) decoder columns with the same D",
                    f"{tuple(x_centred.shape)} and {tuple(w_dec.shape)}")
    q, _ = torch.linalg.qr(w_dec.double())  # (D, k) orthonormal
    y = x_centred.double() @ q  # (N, k)
    cov = y.T @ y / (y.shape[0] - 1)  # (k, k)
    var, r = torch.linalg.eigh(cov)  # ascending
    order = torch.argsort(var, descending=True)
    return q @ r[:, order], var[order]


def matched_cosines(recovered: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
    """|cos| between column i of ``recovered`` (D, k) and column i of ``components`` (D, >= k)."""
    where = "matched_cosines"
    _matrix(components, "components", where, "(D, R >= k)")
    unit = _unit_columns(recovered, "recovered", where)
    k = recovered.shape[1]
    if components.shape[0] != recovered.shape[0] or components.shape[1] < k:
        checks.fail(where, "recovered and components", "(D, k) and (D, R) with R >= k",
                    f"{tuple(recovered.shape)} and {tuple(components.shape)}")
    return (unit * components[:, :k].double()).sum(0).abs()  # (k,)
