"""Input checks shared by every public entry point of the module.

Each check raises a :class:`TypeError` (wrong kind of object or dtype) or a :class:`ValueError` (wrong
shape, range or value) whose message names the function and the argument, says what was expected and
what came, and how to fix it::

    vae_loss: beta must be a finite number >= 0; got nan. Fix: beta = 1 is the VAE, beta > 1 a beta-VAE.

The checks never change a value: a check returns its input unchanged, or a reshaped *view* of it
(:func:`batch` flattens image batches), so every number computed from valid inputs is the same with and
without them. They are cheap: shapes and dtypes are free, and each value check of a tensor is one
vectorised reduction, ``torch.aminmax`` (NaN propagates to both ends, so finite extremes mean finite
values; it is many times faster than ``torch.isfinite(x).all()``, which allocates a mask) — no
per-element Python loop. What exactly is wrong is worked out only when a check fails.
"""

from __future__ import annotations

import math
import numbers
from typing import Iterable

import numpy as np
import torch

__all__ = [
    "describe",
    "fail",
    "tensor",
    "extremes",
    "finite",
    "in_range",
    "same_shape",
    "same_rows",
    "broadcastable",
    "batch",
    "model_input",
    "last_dim",
    "integer",
    "number",
    "generator",
    "array",
    "labels",
]


def describe(value) -> str:
    """A short description of what came: the shape and dtype of a tensor or array, else the value or type."""
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).replace('torch.', '')} tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    if value is None or isinstance(value, (bool, numbers.Number, str)):
        return repr(value)
    return f"a {type(value).__name__}"


def fail(where: str, name: str, expected: str, got: str, fix: str = "", kind: type = ValueError):
    """Raise ``kind`` with the book's message: '<where>: <name> must be <expected>; got <got>. Fix: <fix>'."""
    msg = f"{where}: {name} must be {expected}; got {got}."
    if fix:
        msg += f" Fix: {fix}"
    raise kind(msg)


def _nonfinite(x: torch.Tensor) -> str:
    """What is wrong with a tensor that failed ``isfinite(x).all()`` (computed only on failure)."""
    nan, inf = int(torch.isnan(x).sum()), int(torch.isinf(x).sum())
    parts = ([f"{nan} NaN"] if nan else []) + ([f"{inf} infinite"] if inf else [])
    return f"{' and '.join(parts)} value(s) among {x.numel()}"


_KINDS = {
    "float": (torch.Tensor.is_floating_point, "a floating-point"),
    "int": (lambda t: not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool, "an integer"),
    "any": (lambda t: not t.is_complex(), "a real"),
}


def tensor(x, name: str, where: str, *, kind: str = "float", ndim: int | Iterable[int] | None = None,
           dims: str = "", check_finite: bool = True, fix: str = "") -> torch.Tensor:
    """``x`` must be a torch tensor of the ``kind`` ('float', 'int' or 'any'), with ``ndim`` dimensions
    (an int or a set of them) and, for floats, finite values. ``dims`` spells the expected shape for the
    message, e.g. '(N, k)'. Returns ``x``."""
    if not isinstance(x, torch.Tensor):
        fail(where, name, f"a torch tensor {dims}".rstrip(), describe(x),
             fix or f"convert it with torch.as_tensor({name}, dtype=torch.float32)", TypeError)
    ok, words = _KINDS[kind]
    if not ok(x):
        conv = "x.float() (images as 0-255 integers: x.float() / 255)" if kind == "float" else f"{name}.long()"
        fail(where, name, f"{words} tensor {dims}".rstrip(), describe(x), fix or f"convert it with {conv}", TypeError)
    if ndim is not None:
        allowed = {ndim} if isinstance(ndim, int) else set(ndim)
        if x.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in sorted(allowed))
            fail(where, name, f"{want} {dims}".rstrip(), describe(x), fix)
    if check_finite and x.is_floating_point():
        finite(x, name, where)
    return x


def extremes(x: torch.Tensor) -> tuple[float, float]:
    """(min, max) of a real tensor as Python numbers in one reduction; NaN for both if any value is NaN.
    An empty tensor gives (0, 0)."""
    if x.numel() == 0:
        return 0.0, 0.0
    lo, hi = torch.aminmax(x.detach())
    return lo.item(), hi.item()


def finite(x: torch.Tensor, name: str, where: str, fix: str = "") -> torch.Tensor:
    """Every value of the floating-point tensor ``x`` finite (one reduction). Returns ``x``."""
    lo, hi = extremes(x)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        fail(where, name, "finite", _nonfinite(x),
             fix or f"remove or replace the NaN/inf entries of {name} (torch.isfinite({name}) finds them)")
    return x


def in_range(x: torch.Tensor, name: str, where: str, lo: float | None = None, hi: float | None = None,
             fix: str = "") -> torch.Tensor:
    """Every value of ``x`` in [lo, hi] (either bound may be None), finite. Returns ``x``."""
    x_lo, x_hi = extremes(x)  # NaN fails every comparison below
    ok = math.isfinite(x_lo) and math.isfinite(x_hi)
    ok = ok and (lo is None or x_lo >= lo) and (hi is None or x_hi <= hi)
    if not ok:
        if x.is_floating_point() and not bool(torch.isfinite(x).all()):
            got = _nonfinite(x)
        elif x.numel():
            got = f"values from {x.min().item():.4g} to {x.max().item():.4g}"
        else:
            got = "no values"
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        fail(where, name, f"in [{lo_s}, {hi_s}]", got, fix)
    return x


def same_shape(a: torch.Tensor, b: torch.Tensor, names: str, where: str, fix: str = "") -> None:
    """Two tensors of the same shape."""
    if tuple(a.shape) != tuple(b.shape):
        fail(where, names, "of the same shape", f"{tuple(a.shape)} and {tuple(b.shape)}", fix)


def same_rows(a, b, names: str, where: str, fix: str = "") -> None:
    """Two arrays or tensors with the same number of rows (first dimension)."""
    na, nb = a.shape[0], b.shape[0]
    if na != nb:
        fail(where, names, "of the same length (one row per example)", f"{na} and {nb} rows",
             fix or "pass the rows that belong together, in the same order")


def broadcastable(a: torch.Tensor, b: torch.Tensor, names: str, where: str, fix: str = "") -> None:
    """Shapes that broadcast together, with the same last dimension."""
    ok = a.ndim >= 1 and b.ndim >= 1 and a.shape[-1] == b.shape[-1] and all(
        m == n or m == 1 or n == 1 for m, n in zip(reversed(a.shape), reversed(b.shape)))
    if not ok:
        fail(where, names, "broadcastable shapes (..., D) with the same D", f"{tuple(a.shape)} and {tuple(b.shape)}",
             fix)


def _square_side(dim: int) -> int | None:
    side = math.isqrt(dim)
    return side if side * side == dim else None


def batch(x, dim: int, name: str, where: str, check_finite: bool = True) -> torch.Tensor:
    """A batch for a model with ``dim`` inputs: (B, dim) as it is, or square images (B, s, s) or
    (B, 1, s, s) with s * s = dim, flattened (a view, no copy). Floating point and finite. Returns (B, dim)."""
    side = _square_side(dim)
    images = f" (or images (B, {side}, {side}) or (B, 1, {side}, {side}))" if side else ""
    expected = f"a floating-point tensor (B, {dim}){images}"
    if not isinstance(x, torch.Tensor):
        fail(where, name, expected, describe(x), f"convert it with torch.as_tensor({name}, dtype=torch.float32)",
             TypeError)
    if not x.is_floating_point():
        fail(where, name, expected, describe(x), "convert it with x.float() (0-255 integer images: x.float() / 255)",
             TypeError)
    shape = tuple(x.shape)
    if side and ((x.ndim == 3 and shape[1:] == (side, side)) or (x.ndim == 4 and shape[1:] == (1, side, side))):
        x = x.reshape(shape[0], dim)
    elif x.ndim != 2 or shape[1] != dim:
        fail(where, name, expected, describe(x),
             f"this model was built with input_dim={dim}: pass one row of {dim} values per example "
             f"(x.reshape(len(x), -1) flattens images), or build the model with input_dim={_row(shape)}")
    if check_finite:
        finite(x, name, where)
    return x


def _row(shape: tuple) -> str:
    return str(math.prod(shape[1:])) if len(shape) >= 2 else "the data's dimension"


def last_dim(x, dim: int, name: str, where: str, dims: str = "(..., k)", check_finite: bool = True,
             min_ndim: int = 1) -> torch.Tensor:
    """A floating-point tensor whose last dimension is ``dim`` (e.g. codes (..., k)). Returns ``x``."""
    tensor(x, name, where, kind="float", dims=dims, check_finite=False)
    if x.ndim < min_ndim or x.shape[-1] != dim:
        fail(where, name, f"a tensor {dims} with last dimension {dim}", describe(x),
             f"the model's latent_dim/input size is {dim}")
    if check_finite:
        finite(x, name, where)
    return x


def integer(value, name: str, where: str, minimum: int | None = 1, maximum: int | None = None,
            fix: str = "") -> int:
    """A Python or NumPy integer (not a bool) in [minimum, maximum]. Returns it as an int."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        lo = "" if minimum is None else f" >= {minimum}"
        fail(where, name, f"an int{lo}", describe(value), fix or f"pass a whole number, e.g. {name}={minimum or 1}",
             TypeError)
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        lo = "-inf" if minimum is None else minimum
        hi = "inf" if maximum is None else maximum
        fail(where, name, f"an int in [{lo}, {hi}]", repr(value), fix)
    return value


def number(value, name: str, where: str, minimum: float | None = None, maximum: float | None = None,
           strict: bool = False, fix: str = "") -> float:
    """A finite real number (int, float or a one-element tensor), >= ``minimum`` (> if ``strict``) and <=
    ``maximum``. Returns it as a float."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(where, name, "a real number", describe(value), fix, TypeError)
    v = float(value)
    lo = "" if minimum is None else (f" > {minimum:g}" if strict else f" >= {minimum:g}")
    hi = "" if maximum is None else f" <= {maximum:g}"
    expected = f"a finite number{lo}{' and' if lo and hi else ''}{hi}"
    if not math.isfinite(v):
        fail(where, name, expected, repr(v), fix)
    if minimum is not None and (v <= minimum if strict else v < minimum):
        fail(where, name, expected, repr(v), fix)
    if maximum is not None and v > maximum:
        fail(where, name, expected, repr(v), fix)
    return v


def generator(gen, where: str, name: str = "generator") -> None:
    """``None`` or a :class:`torch.Generator`."""
    if gen is not None and not isinstance(gen, torch.Generator):
        fail(where, name, "None or a torch.Generator", describe(gen),
             f"pass torch.Generator().manual_seed(seed), or None for the global generator", TypeError)


def array(a, name: str, where: str, ndim: int | None = 2, kind: str = "float", dims: str = "(N, k)",
          min_rows: int = 0, check_finite: bool = True) -> np.ndarray:
    """A NumPy array (or a tensor or nested list, converted) of real numbers ('float': any real dtype, finite;
    'int': an integer dtype), with ``ndim`` dimensions and at least ``min_rows`` rows. Returns the array
    (a tensor on the CPU is converted without copying)."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    elif not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a)
        except (ValueError, TypeError):
            fail(where, name, f"an array {dims}", describe(a), "pass a NumPy array or a torch tensor", TypeError)
    if kind == "int":
        if not (np.issubdtype(a.dtype, np.integer) and a.dtype != np.bool_):
            fail(where, name, f"an integer array {dims}", describe(a), f"convert it with {name}.astype(int)", TypeError)
    elif not ((np.issubdtype(a.dtype, np.number) and not np.issubdtype(a.dtype, np.complexfloating))
              or a.dtype == np.bool_):
        fail(where, name, f"a real-valued array {dims}", describe(a), f"convert it with {name}.astype(float)",
             TypeError)
    if ndim is not None and a.ndim != ndim:
        fail(where, name, f"{ndim}-D {dims}", describe(a),
             f"reshape it, e.g. {name}.reshape(len({name}), -1)" if ndim == 2 and a.ndim > 2 else "")
    if min_rows and (a.ndim == 0 or a.shape[0] < min_rows):
        fail(where, name, f"an array {dims} with at least {min_rows} rows", describe(a))
    if check_finite and kind == "float" and np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        fail(where, name, "finite", f"{bad} NaN or infinite value(s) among {a.size}",
             f"remove or replace them (np.isfinite({name}) finds them)")
    return a


def labels(y, name: str, where: str, n: int | None = None) -> np.ndarray:
    """Class labels: a 1-D integer array (or tensor) of length ``n``. Returns the array."""
    y = array(y, name, where, ndim=1, kind="int", dims="(N,)")
    if n is not None and y.shape[0] != n:
        fail(where, name, f"one label per example ({n})", f"{y.shape[0]} labels",
             "pass the labels of the same examples, in the same order")
    return y


def model_input(model, x, where: str, strict: bool = True) -> torch.Tensor:
    """x for ``model``: (B, D), or square image batches flattened to (B, D) (a view). The model's encoder
    checks the values when it runs. A model without ``config.input_dim`` is an error if ``strict``, else
    ``x`` is returned as it is (a stand-in model of a test)."""
    config = getattr(model, "config", None)
    if not isinstance(model, torch.nn.Module) or config is None or not hasattr(config, "input_dim"):
        if not strict and isinstance(model, torch.nn.Module):
            return x
        fail(where, "model", "an Autoencoder or VAE of aevae.models", describe(model),
             "build one with aevae.models.VAE(NetConfig(...))", TypeError)
    return batch(x, config.input_dim, "x", where, check_finite=False)
