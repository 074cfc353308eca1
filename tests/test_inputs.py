"""Every public entry point of the module, fed random valid and bad inputs (property-based, hypothesis).

For each entry point, cases are drawn: valid inputs of random shapes and values, which must give a finite
result of the right shape; then the same inputs with one argument spoiled, in each of the ways listed for
it (NaN, inf, a wrong shape, dtype or type, a value out of range, a negative or NaN beta, k <= 0, ...), each
of which must raise ValueError or TypeError whose message names that argument and says what it must be —
never a raw torch or numpy error (RuntimeError, IndexError, ...) and never a silent NaN.

12 cases per entry point by default, each tried valid and with every bad argument, the same cases every
run ($AEVAE_HYPOTHESIS_EXAMPLES changes the number, $AEVAE_HYPOTHESIS_RANDOM=1 draws new ones). Set $AEVAE_INPUT_COUNTS to a file name to get, at the end, the
number of cases tried per entry point and per kind of bad input (JSON).
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aevae import data as aedata
from aevae import disentangle as dis
from aevae import knob, latent, linear, metrics, models, objectives, pca, recurrent, sequences, shapes, vae_eval

EXAMPLES = int(os.environ.get("AEVAE_HYPOTHESIS_EXAMPLES", "12"))
COUNTS: dict[str, Counter] = defaultdict(Counter)


# ------------------------------------------------------------------------------------------------------
# Spoiling one argument


def _spot(data, t) -> int:
    return data.draw(st.integers(0, max(t.numel() if isinstance(t, torch.Tensor) else t.size, 1) - 1), label="spot")


def _set(data, value, fill):
    if isinstance(value, np.ndarray):
        out = value.astype(np.float64).copy()
        out.reshape(-1)[_spot(data, out)] = fill
        return out
    out = value.float() if not value.is_floating_point() else value
    out = out.clone(memory_format=torch.contiguous_format)
    out.view(-1)[_spot(data, out)] = fill
    return out


def _cat_column(v):
    if isinstance(v, np.ndarray):
        return np.concatenate([v, v[..., :1]], -1)
    return torch.cat([v, v[..., :1]], -1)


BAD: dict[str, Callable] = {
    # tensors and arrays
    "nan": lambda d, v: _set(d, v, float("nan")),
    "inf": lambda d, v: _set(d, v, d.draw(st.sampled_from([float("inf"), -float("inf")]), label="sign")),
    "above 1": lambda d, v: _set(d, v, d.draw(st.floats(1.001, 1e6), label="above")),
    "below 0": lambda d, v: _set(d, v, d.draw(st.floats(-1e6, -0.001), label="below")),
    "extra column": lambda d, v: _cat_column(v),
    "flattened to 1-D": lambda d, v: v.reshape(-1),
    "extra leading axis": lambda d, v: v[None, None],
    "one row fewer": lambda d, v: v[:-1],
    "no rows": lambda d, v: v[:0],
    "integer dtype": lambda d, v: (v * 10).long() if isinstance(v, torch.Tensor) else (v * 10).astype(np.int64),
    "float dtype": lambda d, v: v.double() + 0.5 if isinstance(v, torch.Tensor) else v.astype(np.float64) + 0.5,
    "float64": lambda d, v: v.double(),
    "list": lambda d, v: v.tolist(),
    "numpy": lambda d, v: v.numpy(),
    "string": lambda d, v: "x",
    "None": lambda d, v: None,
    # numbers
    "zero": lambda d, v: 0,
    "negative": lambda d, v: -d.draw(st.integers(1, 10**6), label="neg"),
    "negative float": lambda d, v: -d.draw(st.floats(1e-6, 1e6), label="negf"),
    "NaN number": lambda d, v: float("nan"),
    "inf number": lambda d, v: float("inf"),
    "non-integer": lambda d, v: 2.5,
    "bool": lambda d, v: True,
    "too large": lambda d, v: 10**6,
    "not a generator": lambda d, v: 1234,
    "out-of-range index": lambda d, v: _index(d, v, d.draw(st.sampled_from([-1, 10**6]), label="index")),
    "negative index": lambda d, v: _index(d, v, -d.draw(st.integers(1, 10**6), label="index")),
}


def _index(data, v, value):
    out = v.clone(memory_format=torch.contiguous_format) if isinstance(v, torch.Tensor) else v.copy()
    out.reshape(-1)[_spot(data, out)] = value
    return out


@dataclass
class Case:
    """Valid arguments, the ways each may be spoiled, the call, and the check of a valid result."""

    args: dict
    bad: dict[str, list[str]]
    call: Callable
    expect: Callable = lambda out: None
    names: dict[str, str] = field(default_factory=dict)  # argument -> the word its error message must contain


def _finite(out) -> bool:
    if isinstance(out, torch.Tensor):
        return bool(torch.isfinite(out).all())
    if isinstance(out, np.ndarray):
        return bool(np.isfinite(out).all())
    if isinstance(out, (float, int, np.floating)):
        return math.isfinite(out)
    if isinstance(out, dict):
        return all(_finite(v) for v in out.values())
    if isinstance(out, (tuple, list)):
        return all(_finite(v) for v in out)
    return True


def _shape(out, shape):
    assert tuple(out.shape) == tuple(shape), f"shape {tuple(out.shape)}, expected {tuple(shape)}"
    assert _finite(out), "a valid input gave a non-finite result"


# ------------------------------------------------------------------------------------------------------
# Random valid inputs


def seed(data) -> int:
    return data.draw(st.integers(0, 2**31 - 1), label="seed")


def rand(data, *shape, lo=0.0, hi=1.0):
    g = torch.Generator().manual_seed(seed(data))
    return lo + (hi - lo) * torch.rand(*shape, generator=g)


def randn(data, *shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed(data)))


def gen(data):
    return data.draw(st.sampled_from([None, "seeded"]), label="generator") and torch.Generator().manual_seed(seed(data))


def net(data):
    """A small NetConfig: square input dims so that image batches are valid too."""
    d = data.draw(st.sampled_from([4, 9, 16]), label="D")
    return models.NetConfig(input_dim=d, hidden=(data.draw(st.integers(1, 8), label="H"),),
                            latent_dim=data.draw(st.integers(1, 4), label="k"))


def images_for(data, config, n=None, binary=False):
    """A valid batch for a model: (B, D), or images (B, s, s) / (B, 1, s, s)."""
    b = n or data.draw(st.integers(1, 6), label="B")
    d = config.input_dim
    s = math.isqrt(d)
    x = rand(data, b, d)
    if binary:
        x = x.round()
    form = data.draw(st.sampled_from(["flat", "image", "image with channel"]), label="form")
    return {"flat": x, "image": x.reshape(b, s, s), "image with channel": x.reshape(b, 1, s, s)}[form], b


def built(cls, config, *args):
    torch.manual_seed(0)
    return cls(config, *args)


X_MODEL = ["nan", "inf", "extra column", "flattened to 1-D", "integer dtype", "float64", "list", "None"]
Z_MODEL = ["nan", "inf", "extra column", "integer dtype", "float64", "list"]
INT_ARG = ["zero", "negative", "non-integer", "bool", "string"]
POS_NUMBER = ["zero", "negative float", "NaN number", "inf number", "string"]
NONNEG_NUMBER = ["negative float", "NaN number", "inf number", "string"]


# ------------------------------------------------------------------------------------------------------
# The entry points


SPECS: dict[str, Callable[[object], Case]] = {}


def spec(name):
    def register(fn):
        SPECS[name] = fn
        return fn
    return register


# models.py --------------------------------------------------------------------------------------------

@spec("NetConfig")
def _(d):
    return Case({"input_dim": 9, "latent_dim": 2, "hidden": (4,)},
                {"input_dim": INT_ARG, "latent_dim": INT_ARG, "hidden": ["string", "negative"]},
                lambda **a: models.NetConfig(**a), names={"hidden": "hidden"})


@spec("Autoencoder.forward")
def _(d):
    c = net(d)
    x, b = images_for(d, c)
    return Case({"x": x}, {"x": X_MODEL}, lambda x: built(models.Autoencoder, c)(x),
                lambda out: (_shape(out.x_hat, (b, c.input_dim)), _shape(out.z, (b, c.latent_dim))))


@spec("Autoencoder.encode")
def _(d):
    c = net(d)
    x, b = images_for(d, c)
    return Case({"x": x}, {"x": X_MODEL}, lambda x: built(models.Autoencoder, c).encode(x),
                lambda out: _shape(out, (b, c.latent_dim)))


@spec("Autoencoder.decode")
def _(d):
    c = net(d)
    b = d.draw(st.integers(1, 6))
    return Case({"z": randn(d, b, c.latent_dim)}, {"z": Z_MODEL}, lambda z: built(models.Autoencoder, c).decode(z),
                lambda out: _shape(out, (b, c.input_dim)))


@spec("VAE.forward")
def _(d):
    c = net(d)
    x, b = images_for(d, c)
    return Case({"x": x, "generator": gen(d)}, {"x": X_MODEL, "generator": ["not a generator"]},
                lambda x, generator: built(models.VAE, c)(x, generator),
                lambda out: (_shape(out.logits, (b, c.input_dim)), _shape(out.z, (b, c.latent_dim))))


@spec("VAE.encode")
def _(d):
    c = net(d)
    x, b = images_for(d, c)
    return Case({"x": x}, {"x": X_MODEL}, lambda x: built(models.VAE, c).encode(x),
                lambda out: [_shape(t, (b, c.latent_dim)) for t in out])


@spec("VAE.decode")
def _(d):
    c = net(d)
    b = d.draw(st.integers(1, 6))
    return Case({"z": randn(d, b, c.latent_dim)}, {"z": Z_MODEL}, lambda z: built(models.VAE, c).decode(z),
                lambda out: _shape(out, (b, c.input_dim)))


@spec("VAE.sample")
def _(d):
    c = net(d)
    n = d.draw(st.integers(1, 6))
    return Case({"n": n, "generator": gen(d)}, {"n": INT_ARG, "generator": ["not a generator"]},
                lambda n, generator: built(models.VAE, c).sample(n, generator),
                lambda out: _shape(out, (n, c.input_dim)))


@spec("reparameterize")
def _(d):
    b, k = d.draw(st.integers(1, 5)), d.draw(st.integers(1, 4))
    return Case({"mu": randn(d, b, k), "logvar": randn(d, b, k), "generator": gen(d)},
                {"mu": ["nan", "inf", "extra column", "integer dtype", "list"],
                 "logvar": ["nan", "inf", "extra column"], "generator": ["not a generator"]},
                models.reparameterize, lambda out: _shape(out, (b, k)))


@spec("GaussianEncoder.log_prob")
def _(d):
    b, k = d.draw(st.integers(1, 5)), d.draw(st.integers(1, 4))
    return Case({"z": randn(d, b, k), "mu": randn(d, b, k), "logvar": randn(d, b, k)},
                {"z": ["nan", "inf", "extra column", "list"], "mu": ["nan", "extra column"], "logvar": ["nan", "inf"]},
                models.GaussianEncoder.log_prob, lambda out: _shape(out, (b,)))


@spec("GaussianEncoder.log_prob_eps")
def _(d):
    b, k = d.draw(st.integers(1, 5)), d.draw(st.integers(1, 4))
    return Case({"eps": randn(d, b, k), "logvar": randn(d, b, k) * 50},
                {"eps": ["nan", "inf", "extra column", "integer dtype"], "logvar": ["nan", "inf", "extra column"]},
                models.GaussianEncoder.log_prob_eps, lambda out: _shape(out, (b,)))


@spec("StandardNormalPrior.log_prob")
def _(d):
    b, k = d.draw(st.integers(1, 5)), d.draw(st.integers(1, 4))
    return Case({"z": randn(d, b, k)}, {"z": ["nan", "inf", "extra column", "integer dtype", "list"]},
                lambda z: models.StandardNormalPrior(k).log_prob(z), lambda out: _shape(out, (b,)))


# objectives.py ----------------------------------------------------------------------------------------

@spec("mse_per_pixel")
def _(d):
    b, n = d.draw(st.integers(1, 5)), d.draw(st.integers(1, 6))
    return Case({"x_hat": rand(d, b, n), "x": rand(d, b, n)},
                {"x_hat": ["nan", "inf", "extra column", "list"], "x": ["nan", "extra column", "integer dtype"]},
                objectives.mse_per_pixel, lambda out: _shape(out, (b,)))


@spec("ae_loss")
def _(d):
    c = net(d)
    x, _ = images_for(d, c)
    return Case({"model": built(models.Autoencoder, c), "x": x}, {"x": X_MODEL, "model": ["string"]},
                objectives.ae_loss, lambda out: _shape(out, ()))


@spec("gaussian_kl")
def _(d):
    b, k = d.draw(st.integers(1, 5)), d.draw(st.integers(1, 4))
    return Case({"mu": randn(d, b, k), "logvar": randn(d, b, k)},
                {"mu": ["nan", "inf", "extra column", "integer dtype", "list"], "logvar": ["nan", "inf", "extra column"]},
                objectives.gaussian_kl, lambda out: _shape(out, (b, k)))


@spec("bernoulli_log_prob")
def _(d):
    b, n = d.draw(st.integers(1, 5)), d.draw(st.integers(1, 6))
    return Case({"x": rand(d, b, n), "logits": randn(d, b, n) * 10},
                {"x": ["nan", "inf", "above 1", "below 0", "extra column", "integer dtype", "list"],
                 "logits": ["nan", "inf", "extra column"]},
                objectives.bernoulli_log_prob, lambda out: _shape(out, (b,)))


@spec("gaussian_log_prob")
def _(d):
    b, n = d.draw(st.integers(1, 5)), d.draw(st.integers(1, 6))
    return Case({"x": rand(d, b, n), "mean": rand(d, b, n), "logvar": randn(d, b, n)},
                {"x": ["nan", "inf", "extra column", "list"], "mean": ["nan", "extra column"],
                 "logvar": ["nan", "inf", "NaN number", "string"]},
                objectives.gaussian_log_prob, lambda out: _shape(out, (b,)))


@spec("elbo")
def _(d):
    c = net(d)
    x, b = images_for(d, c, binary=True)
    return Case({"model": built(models.VAE, c), "x": x, "generator": gen(d)},
                {"x": X_MODEL + ["above 1", "below 0"], "generator": ["not a generator"], "model": ["string"]},
                objectives.elbo, lambda out: (_shape(out.elbo, (b,)), _shape(out.kl, (b, c.latent_dim))))


@spec("vae_loss")
def _(d):
    c = net(d)
    x, _ = images_for(d, c, binary=True)
    return Case({"model": built(models.VAE, c), "x": x, "generator": gen(d), "beta": d.draw(st.floats(0, 100))},
                {"beta": NONNEG_NUMBER, "x": X_MODEL + ["above 1", "below 0"], "generator": ["not a generator"]},
                objectives.vae_loss, lambda out: _shape(out, ()))


@spec("decoder_log_prob")
def _(d):
    c = net(d)
    x, b = images_for(d, c, binary=True)
    model = built(d.draw(st.sampled_from([models.VAE, vae_eval.GaussianVAE])), c)
    return Case({"model": model, "x": x, "z": randn(d, b, c.latent_dim)},
                {"x": ["nan", "extra column", "list"], "z": Z_MODEL},
                objectives.decoder_log_prob, lambda out: _shape(out, (b,)))


@spec("iwae_bound")
def _(d):
    c = net(d)
    x, b = images_for(d, c, binary=True)
    return Case({"model": built(models.VAE, c), "x": x, "k": d.draw(st.integers(1, 20)), "generator": gen(d),
                 "chunk": d.draw(st.integers(1, 8))},
                {"k": INT_ARG, "chunk": INT_ARG, "x": ["nan", "above 1", "extra column", "integer dtype"],
                 "generator": ["not a generator"]},
                objectives.iwae_bound, lambda out: _shape(out, (b,)))


# vae_eval.py ------------------------------------------------------------------------------------------

@spec("binarized_entropy")
def _(d):
    b, n = d.draw(st.integers(1, 5)), d.draw(st.integers(1, 6))
    return Case({"images": rand(d, b, n)}, {"images": ["nan", "above 1", "below 0", "integer dtype", "list"]},
                vae_eval.binarized_entropy, lambda out: _shape(out, (b,)))


@spec("dequantize")
def _(d):
    b, n = d.draw(st.integers(1, 5)), d.draw(st.integers(1, 6))
    return Case({"images": rand(d, b, n), "generator": gen(d), "levels": d.draw(st.integers(2, 256))},
                {"images": ["nan", "above 1", "below 0", "list"], "levels": INT_ARG, "generator": ["not a generator"]},
                vae_eval.dequantize, lambda out: _shape(out, (b, n)))


@spec("bits_per_dim")
def _(d):
    b = d.draw(st.integers(1, 5))
    return Case({"nll_nats": rand(d, b, lo=-100, hi=1000), "dim": d.draw(st.integers(1, 1000)), "levels": 256},
                {"nll_nats": ["nan", "inf", "string"], "dim": INT_ARG, "levels": ["zero", "non-integer"]},
                vae_eval.bits_per_dim, lambda out: _shape(out, (b,)))


@spec("GaussianVAE")
def _(d):
    c = net(d)
    return Case({"config": c, "init_scale": d.draw(st.floats(1e-3, 10))}, {"init_scale": POS_NUMBER},
                vae_eval.GaussianVAE)


@spec("gaussian_elbo")
def _(d):
    c = net(d)
    x, b = images_for(d, c)
    return Case({"model": built(vae_eval.GaussianVAE, c), "x": x, "generator": gen(d)},
                {"x": X_MODEL, "generator": ["not a generator"]},
                vae_eval.gaussian_elbo, lambda out: _shape(out.elbo, (b,)))


@spec("iwae_in_batches")
def _(d):
    c = net(d)
    x, b = images_for(d, c, binary=True)
    return Case({"model": built(models.VAE, c), "x": x, "k": d.draw(st.integers(1, 10)),
                 "batch_size": d.draw(st.integers(1, 4))},
                {"k": INT_ARG, "batch_size": INT_ARG, "x": ["nan", "above 1", "extra column", "list"]},
                vae_eval.iwae_in_batches, lambda out: _shape(out, (b,)))


@spec("decoded_mean")
def _(d):
    c = net(d)
    x, b = images_for(d, c)
    return Case({"model": built(models.VAE, c), "x": x, "batch_size": d.draw(st.integers(1, 4))},
                {"x": X_MODEL, "batch_size": INT_ARG}, vae_eval.decoded_mean,
                lambda out: _shape(out, (b, c.input_dim)))


@spec("active_units")
def _(d):
    b, k = d.draw(st.integers(2, 6)), d.draw(st.integers(1, 4))
    return Case({"mu": randn(d, b, k), "threshold": d.draw(st.floats(0, 1))},
                {"mu": ["nan", "inf", "flattened to 1-D", "no rows", "integer dtype", "list"],
                 "threshold": NONNEG_NUMBER},
                vae_eval.active_units, lambda out: _shape(out[0], (k,)))


@spec("kl_per_unit")
def _(d):
    c = net(d)
    x, _ = images_for(d, c)
    return Case({"model": built(models.VAE, c), "x": x, "batch_size": d.draw(st.integers(1, 4))},
                {"x": X_MODEL + ["no rows"], "batch_size": INT_ARG, "model": ["string"]},
                vae_eval.kl_per_unit, lambda out: _shape(out, (c.latent_dim,)))


@spec("ablate_units")
def _(d):
    c = net(d)
    x, _ = images_for(d, c, binary=True)
    units = torch.tensor([d.draw(st.integers(0, c.latent_dim - 1))])
    return Case({"model": built(models.VAE, c), "x": x, "units": units,
                 "mode": d.draw(st.sampled_from(["prior", "zero"])), "generator": gen(d)},
                {"units": ["out-of-range index", "float dtype"], "mode": ["string"], "x": ["nan", "extra column"],
                 "generator": ["not a generator"]},
                vae_eval.ablate_units, lambda out: _finite(out) or pytest.fail("non-finite"))


# recurrent.py -----------------------------------------------------------------------------------------

def _rcfg(d, likelihood=None):
    return recurrent.RecurrentConfig(x_dim=d.draw(st.integers(1, 3)), z_dim=d.draw(st.integers(1, 2)), h_dim=4,
                                     hidden=4, likelihood=likelihood or d.draw(st.sampled_from(["gaussian", "bernoulli"])))


def _seqs(d, c, b=None):
    b = b or d.draw(st.integers(1, 4))
    x = rand(d, b, d.draw(st.integers(1, 5)), c.x_dim)
    return (x.round() if c.likelihood == "bernoulli" else x), b


X_SEQ = ["nan", "inf", "extra column", "flattened to 1-D", "no rows", "integer dtype", "float64", "list"]


@spec("RecurrentConfig")
def _(d):
    return Case({"x_dim": 2, "z_dim": 2, "likelihood": "gaussian"},
                {"x_dim": INT_ARG, "z_dim": INT_ARG, "likelihood": ["string"]}, recurrent.RecurrentConfig)


@spec("RNN.forward")
def _(d):
    c = _rcfg(d)
    x, b = _seqs(d, c)
    bad = X_SEQ + (["above 1"] if c.likelihood == "bernoulli" else [])
    return Case({"x": x}, {"x": bad}, lambda x: built(recurrent.RNN, c)(x),
                lambda out: _shape(out.log_px, x.shape[:2]))


@spec("VRNN.forward")
def _(d):
    c = _rcfg(d)
    x, b = _seqs(d, c)
    bad = X_SEQ + (["above 1", "below 0"] if c.likelihood == "bernoulli" else [])
    prior = d.draw(st.sampled_from(["learned", "fixed"]))
    return Case({"x": x, "generator": gen(d)}, {"x": bad, "generator": ["not a generator"]},
                lambda x, generator: built(recurrent.VRNN, c, prior)(x, generator),
                lambda out: _shape(out.log_w, x.shape[:2]))


@spec("VRNN.sample")
def _(d):
    c = _rcfg(d)
    n, length = d.draw(st.integers(1, 3)), d.draw(st.integers(1, 5))
    cls = d.draw(st.sampled_from([recurrent.RNN, recurrent.VRNN]))
    prefix, _ = _seqs(d, c, n)
    return Case({"n": n, "length": length, "generator": gen(d), "prefix": prefix},
                {"n": INT_ARG, "length": INT_ARG, "generator": ["not a generator"],
                 "prefix": ["nan", "extra column", "one row fewer", "list"] if n > 1 else ["nan", "extra column"]},
                lambda **a: built(cls, c).sample(**a), lambda out: _shape(out[0], (n, length, c.x_dim)))


@spec("MDNRNN")
def _(d):
    return Case({"config": _rcfg(d), "components": d.draw(st.integers(1, 5))},
                {"components": INT_ARG, "config": ["string"]}, recurrent.MDNRNN)


@spec("MDNRNN.forward")
def _(d):
    c = _rcfg(d)
    x, b = _seqs(d, c)
    bad = X_SEQ + (["above 1"] if c.likelihood == "bernoulli" else [])
    return Case({"x": x}, {"x": bad}, lambda x: built(recurrent.MDNRNN, c, 3)(x),
                lambda out: _shape(out.log_px, x.shape[:2]))


@spec("MDNRNN.sample")
def _(d):
    c = _rcfg(d)
    n, length = d.draw(st.integers(1, 3)), d.draw(st.integers(1, 5))
    prefix, _ = _seqs(d, c, n)
    return Case({"n": n, "length": length, "generator": gen(d), "prefix": prefix},
                {"n": INT_ARG, "length": INT_ARG, "generator": ["not a generator"],
                 "prefix": ["nan", "extra column", "one row fewer", "list"] if n > 1 else ["nan", "extra column"]},
                lambda **a: built(recurrent.MDNRNN, c, 2).sample(**a), lambda out: _shape(out[0], (n, length, c.x_dim)))


@spec("mixture_log_prob")
def _(d):
    likelihood = d.draw(st.sampled_from(["gaussian", "bernoulli"]))
    b, j, dim = d.draw(st.integers(1, 4)), d.draw(st.integers(1, 4)), d.draw(st.integers(1, 3))
    x = rand(d, b, dim).round() if likelihood == "bernoulli" else randn(d, b, dim)
    params = randn(d, b, j, 2 * dim if likelihood == "gaussian" else dim)
    bad_x = ["nan", "extra column", "list"] + (["above 1", "below 0"] if likelihood == "bernoulli" else ["inf"])
    return Case({"x": x, "logits": randn(d, b, j), "params": params, "likelihood": likelihood},
                {"x": bad_x, "logits": ["nan", "inf", "extra column", "list"],
                 "params": ["nan", "extra column", "flattened to 1-D", "list"], "likelihood": ["string"]},
                recurrent.mixture_log_prob, lambda out: _shape(out, (b,)))


@spec("mdn_rnn_loss")
def _(d):
    c = _rcfg(d)
    x, _ = _seqs(d, c)
    return Case({"model": built(recurrent.MDNRNN, c, 2), "x": x}, {"x": X_SEQ, "model": ["string"]},
                recurrent.mdn_rnn_loss, lambda out: _shape(out, ()))


@spec("vrnn_loss")
def _(d):
    c = _rcfg(d)
    x, _ = _seqs(d, c)
    return Case({"model": built(recurrent.VRNN, c), "x": x, "generator": gen(d), "beta": d.draw(st.floats(0, 10))},
                {"beta": NONNEG_NUMBER, "x": ["nan", "extra column", "no rows"]},
                recurrent.vrnn_loss, lambda out: _shape(out, ()))


@spec("rnn_loss")
def _(d):
    c = _rcfg(d)
    x, _ = _seqs(d, c)
    return Case({"model": built(recurrent.RNN, c), "x": x}, {"x": X_SEQ}, recurrent.rnn_loss,
                lambda out: _shape(out, ()))


@spec("vrnn_iwae_bound")
def _(d):
    c = _rcfg(d)
    x, b = _seqs(d, c)
    return Case({"model": built(recurrent.VRNN, c), "x": x, "k": d.draw(st.integers(1, 6)),
                 "chunk": d.draw(st.integers(1, 4))},
                {"k": INT_ARG, "chunk": INT_ARG, "x": ["nan", "extra column", "flattened to 1-D"]},
                recurrent.vrnn_iwae_bound, lambda out: _shape(out, (b,)))


@spec("gaussian_kl_diag")
def _(d):
    b, k = d.draw(st.integers(1, 5)), d.draw(st.integers(1, 4))
    args = {n: randn(d, b, k) for n in ("mu_q", "logvar_q", "mu_p", "logvar_p")}
    return Case(args, {n: ["nan", "inf", "extra column", "list"] for n in args}, recurrent.gaussian_kl_diag,
                lambda out: _shape(out, (b, k)))


@spec("KLWarmup")
def _(d):
    return Case({"steps": d.draw(st.integers(0, 100))}, {"steps": ["negative", "non-integer", "bool", "string"]},
                recurrent.KLWarmup)


# metrics.py -------------------------------------------------------------------------------------------

@spec("frechet_distance")
def _(d):
    n, f = d.draw(st.integers(2, 12)), d.draw(st.integers(1, 5))
    return Case({"a": randn(d, n, f), "b": randn(d, n + 1, f).numpy()},
                {"a": ["nan", "inf", "extra column", "flattened to 1-D", "no rows", "string"],
                 "b": ["nan", "extra column", "no rows"]},
                metrics.frechet_distance, lambda out: _finite(out) or pytest.fail("non-finite"))


@spec("precision_recall")
def _(d):
    n, f = d.draw(st.integers(3, 12)), d.draw(st.integers(1, 5))
    return Case({"real": randn(d, n, f), "fake": randn(d, n, f), "k": d.draw(st.integers(1, n - 1))},
                {"k": INT_ARG + ["too large"], "real": ["nan", "extra column", "no rows"], "fake": ["inf"]},
                metrics.precision_recall, lambda out: _finite(out) or pytest.fail("non-finite"))


def _probe_case(d, fn, extra):
    n, m, k = d.draw(st.integers(4, 20)), d.draw(st.integers(1, 10)), d.draw(st.integers(1, 4))
    y = torch.arange(n) % d.draw(st.integers(2, 4))
    args = {"z_train": randn(d, n, k), "y_train": y, "z_test": randn(d, m, k), "y_test": torch.arange(m) % 2, **extra}
    bad = {"z_train": ["nan", "inf", "extra column", "flattened to 1-D"], "y_train": ["float dtype", "one row fewer"],
           "z_test": ["nan", "extra column"], "y_test": ["float dtype", "extra leading axis"]}
    if "k" in extra:
        bad["k"] = INT_ARG + ["too large"]
    return Case(args, bad, fn, lambda out: 0 <= out <= 1 or pytest.fail(f"accuracy {out}"))


@spec("linear_probe")
def _(d):
    return _probe_case(d, metrics.linear_probe, {})


@spec("knn_accuracy")
def _(d):
    return _probe_case(d, metrics.knn_accuracy, {"k": 1})


@spec("auroc")
def _(d):
    return Case({"scores_normal": randn(d, d.draw(st.integers(1, 8))), "scores_anomalous": randn(d, 5).numpy()},
                {"scores_normal": ["nan", "inf", "no rows", "string"], "scores_anomalous": ["nan", "no rows"]},
                metrics.auroc, lambda out: 0 <= out <= 1 or pytest.fail(f"AUROC {out}"))


@spec("EvalClassifier.forward")
def _(d):
    c = net(d)
    x, b = images_for(d, c)
    torch.manual_seed(0)
    clf = metrics.EvalClassifier(input_dim=c.input_dim, hidden=(4,))
    return Case({"x": x}, {"x": X_MODEL}, clf, lambda out: _shape(out, (b, 10)))


@spec("sample_quality")
def _(d):
    c = net(d)
    n = d.draw(st.integers(4, 10))
    torch.manual_seed(0)
    clf = metrics.TrainedClassifier(metrics.EvalClassifier(input_dim=c.input_dim, hidden=(4,)), 0.0, 0.0)
    return Case({"classifier": clf, "real_images": rand(d, n, c.input_dim), "images": rand(d, n, c.input_dim),
                 "k": d.draw(st.integers(1, 3))},
                {"images": ["nan", "extra column", "one row fewer", "list"], "real_images": ["inf"],
                 "classifier": ["string"], "k": INT_ARG},
                metrics.sample_quality, lambda out: _finite(out) or pytest.fail("non-finite"))


@spec("train_eval_classifier")
def _(d):
    n = d.draw(st.integers(4, 12))
    return Case({"train_images": rand(d, n, 4), "train_labels": torch.arange(n) % 10, "test_images": rand(d, 3, 4),
                 "test_labels": torch.tensor([0, 1, 2]), "epochs": 1},
                {"train_images": ["nan", "flattened to 1-D", "integer dtype"],
                 "train_labels": ["float dtype", "one row fewer", "out-of-range index"],
                 "test_images": ["extra column", "inf"], "test_labels": ["out-of-range index", "one row fewer"],
                 "epochs": INT_ARG},
                metrics.train_eval_classifier, lambda out: 0 <= out.test_accuracy <= 1 or pytest.fail("accuracy"))


# disentangle.py ---------------------------------------------------------------------------------------

def _pool(d, n_min=20):
    n, k, f = d.draw(st.integers(n_min, 60)), d.draw(st.integers(2, 4)), d.draw(st.integers(2, 3))
    factors = torch.stack([torch.arange(n) % (j + 2) for j in range(f)], 1)  # every factor varies
    return randn(d, n, k), factors, n, k, f


POOL_BAD = {"codes": ["nan", "inf", "one row fewer", "flattened to 1-D", "string"],
            "factors": ["float dtype", "one row fewer", "negative index"]}


@spec("mig")
def _(d):
    codes, factors, n, k, f = _pool(d)
    return Case({"codes": codes, "factors": factors, "bins": d.draw(st.integers(1, 20))},
                {**POOL_BAD, "bins": INT_ARG}, dis.mig,
                lambda out: (_shape(out.per_factor, (f,)), _shape(out.mi, (k, f))))


@spec("discretize")
def _(d):
    codes, *_ = _pool(d)
    return Case({"codes": codes, "bins": d.draw(st.integers(1, 20))},
                {"codes": ["nan", "inf", "no rows", "string"], "bins": INT_ARG}, dis.discretize,
                lambda out: _shape(out, codes.shape))


@spec("mutual_info_matrix")
def _(d):
    codes, factors, n, k, f = _pool(d)
    return Case({"discrete_codes": dis.discretize(codes), "factors": factors},
                {"discrete_codes": ["float dtype", "one row fewer", "no rows"], "factors": ["float dtype", "no rows"]},
                dis.mutual_info_matrix, lambda out: _shape(out, (k, f)))


@spec("discrete_entropy")
def _(d):
    _, factors, n, k, f = _pool(d)
    return Case({"factors": factors}, {"factors": ["float dtype", "no rows", "flattened to 1-D", "string"]},
                dis.discrete_entropy, lambda out: _shape(out, (f,)))


@spec("beta_vae_metric")
def _(d):
    codes, factors, *_ = _pool(d)
    return Case({"codes": codes, "factors": factors, "n_train": 40, "n_eval": 10, "batch_size": 4},
                {**POOL_BAD, "n_train": INT_ARG, "batch_size": INT_ARG}, dis.beta_vae_metric,
                lambda out: 0 <= out.eval_accuracy <= 1 or pytest.fail("accuracy"))


@spec("factor_vae_metric")
def _(d):
    codes, factors, *_ = _pool(d)
    return Case({"codes": codes, "factors": factors, "n_train": 20, "n_eval": 10, "batch_size": 4,
                 "prune": d.draw(st.floats(0, 0.5))},
                {**POOL_BAD, "n_eval": INT_ARG, "prune": NONNEG_NUMBER}, dis.factor_vae_metric,
                lambda out: 0 <= out.eval_accuracy <= 1 or pytest.fail("accuracy"))


@spec("encode (disentangle)")
def _(d):
    c = net(d)
    x, b = images_for(d, c)
    model = built(d.draw(st.sampled_from([models.VAE, models.Autoencoder])), c)
    return Case({"model": model, "x": x, "batch_size": d.draw(st.integers(1, 4))},
                {"x": X_MODEL + ["no rows"], "batch_size": INT_ARG}, dis.encode,
                lambda out: _shape(out.codes, (b, c.latent_dim)))


@spec("reconstruction")
def _(d):
    c = net(d)
    x, b = images_for(d, c, n=d.draw(st.integers(2, 6)), binary=True)
    enc = dis.encode(built(models.VAE, c), x)
    return Case({"enc": enc, "x": x}, {"x": ["nan", "above 1", "one row fewer", "extra column"], "enc": ["string"]},
                dis.reconstruction, lambda out: _finite(out) or pytest.fail("non-finite"))


@spec("unit_ablation")
def _(d):
    c = net(d)
    x, b = images_for(d, c, n=d.draw(st.integers(2, 6)), binary=True)
    model = built(models.VAE, c)
    return Case({"model": model, "enc": dis.encode(model, x), "x": x, "fill": randn(d, c.latent_dim)},
                {"x": ["above 1", "one row fewer"], "fill": ["nan", "extra column"], "enc": ["string"]},
                dis.unit_ablation, lambda out: _shape(out, (c.latent_dim,)))


@spec("latent_traversal")
def _(d):
    c = net(d)
    t = d.draw(st.integers(1, 5))
    return Case({"model": built(models.VAE, c), "z0": randn(d, c.latent_dim), "units": torch.tensor([0]), "values": randn(d, t)},
                {"z0": ["nan", "extra column"], "units": ["out-of-range index", "float dtype"], "values": ["nan", "inf"]},
                dis.latent_traversal, lambda out: _shape(out, (1, t, c.input_dim)))


@spec("ae_bernoulli_loss")
def _(d):
    c = net(d)
    x, _ = images_for(d, c, binary=True)
    return Case({"model": built(models.Autoencoder, c), "x": x}, {"x": X_MODEL + ["above 1"]},
                dis.ae_bernoulli_loss, lambda out: _shape(out, ()))


@spec("beta_vae_objective")
def _(d):
    return Case({"beta": d.draw(st.floats(0, 100))}, {"beta": NONNEG_NUMBER}, dis.beta_vae_objective)


# knob.py ----------------------------------------------------------------------------------------------

@spec("rae_loss")
def _(d):
    c = net(d)
    x, _ = images_for(d, c, binary=True)
    return Case({"model": built(models.Autoencoder, c), "x": x, "code_weight": d.draw(st.floats(0, 2)),
                 "decoder_l2": d.draw(st.floats(0, 1e-2))},
                {"x": X_MODEL + ["above 1"], "code_weight": NONNEG_NUMBER, "decoder_l2": NONNEG_NUMBER},
                knob.rae_loss, lambda out: _shape(out, ()))


@spec("fit_mixture")
def _(d):
    k = d.draw(st.integers(1, 3))
    return Case({"z_fit": randn(d, 30, k), "z_val": randn(d, d.draw(st.integers(1, 8)), k),
                 "components": d.draw(st.sampled_from([(1,), (1, 2)]))},
                {"z_fit": ["nan", "inf", "flattened to 1-D", "integer dtype", "list"],
                 "z_val": ["nan", "extra column", "list"]},
                knob.fit_mixture, lambda out: _shape(out.best.means, (out.best.n_components, k)))


@spec("MixtureFit.sample")
def _(d):
    fit = knob.fit_mixture(randn(d, 30, 2), randn(d, 5, 2), (1, 2)).best
    n = d.draw(st.integers(1, 6))
    return Case({"n": n, "generator": gen(d)}, {"n": INT_ARG, "generator": ["not a generator"]}, fit.sample,
                lambda out: _shape(out, (n, 2)))


@spec("MixtureFit.log_prob")
def _(d):
    fit = knob.fit_mixture(randn(d, 30, 2), randn(d, 5, 2), (1, 2)).best
    z = randn(d, d.draw(st.integers(1, 6)), 2)
    return Case({"z": z}, {"z": ["nan", "inf", "extra column", "flattened to 1-D", "list"]}, fit.log_prob,
                lambda out: _shape(out, (z.shape[0],)))


@spec("path_evenness")
def _(d):
    b, k = d.draw(st.integers(1, 4)), d.draw(st.integers(1, 3))
    return Case({"decode": lambda z: torch.tanh(z.repeat(1, 2)), "za": randn(d, b, k), "zb": randn(d, b, k),
                 "steps": d.draw(st.integers(2, 6))},
                {"za": ["nan", "extra column", "list"], "zb": ["inf", "integer dtype"], "steps": INT_ARG},
                knob.path_evenness, lambda out: _shape(out["detour"], (b,)))


@spec("off_data_fraction")
def _(d):
    k = d.draw(st.integers(1, 3))
    return Case({"z_ref": randn(d, 12, k), "z_query": randn(d, d.draw(st.integers(1, 6)), k),
                 "z_calib": randn(d, d.draw(st.integers(1, 6)), k)},
                {"z_ref": ["nan", "list"], "z_query": ["inf", "extra column"], "z_calib": ["nan", "integer dtype"]},
                knob.off_data_fraction, lambda out: None if 0 <= out <= 1 else pytest.fail(f"fraction {out}"))


# shapes.py --------------------------------------------------------------------------------------------

@spec("render_values")
def _(d):
    n = d.draw(st.integers(1, 6))
    args = {"shape": torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(seed(d))),
            "scale": rand(d, n, lo=0.5, hi=1.0), "orientation": rand(d, n, hi=6.3), "pos_x": rand(d, n),
            "pos_y": rand(d, n), "resolution": d.draw(st.integers(1, 12))}
    return Case(args, {"shape": ["out-of-range index", "float dtype"], "scale": ["nan", "negative float"],
                       "orientation": ["inf", "one row fewer"], "pos_x": ["nan", "extra leading axis"],
                       "pos_y": ["list"], "resolution": INT_ARG},
                shapes.render_values, lambda out: _shape(out, (n, args["resolution"] ** 2)),
                names={"scale": "scale"})


@spec("ShapesGrid")
def _(d):
    return Case({"resolution": 8, "n_scales": 2, "size": d.draw(st.floats(0.01, 0.49))},
                {"resolution": INT_ARG, "n_scales": INT_ARG, "size": POS_NUMBER}, shapes.ShapesGrid)


def _grid_indices(d, grid, n):
    g = torch.Generator().manual_seed(seed(d))
    return grid.sample_indices(n, g)


@spec("ShapesGrid.render")
def _(d):
    grid = shapes.ShapesGrid(resolution=8, n_scales=2, n_orientations=3, n_positions=4)
    n = d.draw(st.integers(1, 5))
    return Case({"indices": _grid_indices(d, grid, n)},
                {"indices": ["out-of-range index", "float dtype", "extra column", "flattened to 1-D", "list"]},
                grid.render, lambda out: _shape(out, (n, 64)))


@spec("ShapesGrid.sample")
def _(d):
    grid = shapes.ShapesGrid(resolution=8)
    n = d.draw(st.integers(1, 5))
    return Case({"n": n, "generator": gen(d)}, {"n": ["negative", "non-integer", "string"],
                                                "generator": ["not a generator"]},
                grid.sample, lambda out: _shape(out[0], (n, 64)))


@spec("ShapesGrid.flat_to_indices")
def _(d):
    grid = shapes.ShapesGrid(resolution=8, n_scales=2, n_orientations=3, n_positions=4)
    flat = grid.indices_to_flat(_grid_indices(d, grid, d.draw(st.integers(1, 5))))
    return Case({"flat": flat}, {"flat": ["out-of-range index", "float dtype", "list"]}, grid.flat_to_indices,
                lambda out: _shape(out, (flat.shape[0], 5)))


@spec("ShapesGrid.indices_to_flat")
def _(d):
    grid = shapes.ShapesGrid(resolution=8, n_scales=2, n_orientations=3, n_positions=4)
    idx = _grid_indices(d, grid, d.draw(st.integers(1, 5)))
    return Case({"indices": idx}, {"indices": ["out-of-range index", "float dtype", "extra column"]},
                grid.indices_to_flat, lambda out: _shape(out, (idx.shape[0],)))


# sequences.py -----------------------------------------------------------------------------------------

@spec("StrokeProcess")
def _(d):
    return Case({"n_headings": 4, "length": 5, "noise": d.draw(st.floats(0.01, 1)), "p_straight": 0.5},
                {"n_headings": INT_ARG, "length": INT_ARG, "noise": POS_NUMBER,
                 "p_straight": ["NaN number", "negative float", "too large", "string"]},
                sequences.StrokeProcess)


def _strokes(d):
    proc = sequences.StrokeProcess(length=d.draw(st.integers(1, 5)))
    return proc, proc.sample(d.draw(st.integers(1, 4)), torch.Generator().manual_seed(seed(d))).x


X_STROKE = ["nan", "inf", "extra column", "flattened to 1-D", "integer dtype", "list"]


@spec("StrokeProcess.sample")
def _(d):
    proc = sequences.StrokeProcess()
    n, length = d.draw(st.integers(1, 4)), d.draw(st.integers(1, 6))
    return Case({"n": n, "generator": gen(d), "length": length},
                {"n": INT_ARG, "length": INT_ARG, "generator": ["not a generator"]}, proc.sample,
                lambda out: _shape(out.x, (n, length, 2)))


@spec("StrokeProcess.log_prob")
def _(d):
    proc, x = _strokes(d)
    return Case({"x": x}, {"x": X_STROKE}, proc.log_prob, lambda out: _shape(out, (x.shape[0],)))


@spec("StrokeProcess.predictive")
def _(d):
    proc, x = _strokes(d)
    return Case({"prefix": x}, {"prefix": X_STROKE}, proc.predictive,
                lambda out: _shape(out[0], (x.shape[0], proc.n_states)))


@spec("StrokeProcess.moment_matched_log_prob_steps")
def _(d):
    proc, x = _strokes(d)
    return Case({"x": x}, {"x": X_STROKE}, proc.moment_matched_log_prob_steps, lambda out: _shape(out, x.shape[:2]))


@spec("StrokeProcess.entropy")
def _(d):
    proc = sequences.StrokeProcess(length=3)
    return Case({"n": d.draw(st.integers(2, 50)), "generator": gen(d)},
                {"n": INT_ARG, "generator": ["not a generator"]}, proc.entropy,
                lambda out: _finite(out) or pytest.fail("non-finite"))


@spec("read_moves")
def _(d):
    proc = sequences.StrokeProcess(length=d.draw(st.integers(2, 6)))
    x = proc.sample(d.draw(st.integers(1, 4)), torch.Generator().manual_seed(seed(d))).x
    return Case({"proc": proc, "x": x}, {"x": X_STROKE + ["no rows"], "proc": ["string"]}, sequences.read_moves,
                lambda out: _shape(out.moves, x.shape[:2]))


@spec("strokes_to_paths")
def _(d):
    _, x = _strokes(d)
    return Case({"x": x}, {"x": X_STROKE}, sequences.strokes_to_paths,
                lambda out: _shape(out, (x.shape[0], x.shape[1] + 1, 2)))


@spec("images_to_sequences")
def _(d):
    side, n = d.draw(st.integers(1, 5)), d.draw(st.integers(1, 4))
    return Case({"images": rand(d, n, side * side), "side": side},
                {"images": ["nan", "extra column", "integer dtype", "list"], "side": INT_ARG},
                sequences.images_to_sequences, lambda out: _shape(out, (n, side, side)))


@spec("sequences_to_images")
def _(d):
    x = rand(d, d.draw(st.integers(1, 4)), d.draw(st.integers(1, 4)), d.draw(st.integers(1, 4)))
    return Case({"x": x}, {"x": ["nan", "flattened to 1-D", "integer dtype", "list"]}, sequences.sequences_to_images,
                lambda out: _shape(out, (x.shape[0], x.shape[1] * x.shape[2])))


# latent.py --------------------------------------------------------------------------------------------

@spec("fit_gaussian")
def _(d):
    n, k = d.draw(st.integers(2, 20)), d.draw(st.integers(1, 4))
    return Case({"z": randn(d, n, k), "diagonal": d.draw(st.booleans()), "jitter": d.draw(st.floats(1e-6, 1e-2))},
                {"z": ["nan", "inf", "flattened to 1-D", "no rows", "integer dtype", "list"], "jitter": NONNEG_NUMBER},
                latent.fit_gaussian, lambda out: _shape(out.cov, (k, k)))


@spec("GaussianFit.sample")
def _(d):
    fit = latent.fit_gaussian(randn(d, 10, 3))
    n = d.draw(st.integers(1, 6))
    return Case({"n": n, "generator": gen(d)}, {"n": INT_ARG, "generator": ["not a generator"]}, fit.sample,
                lambda out: _shape(out, (n, 3)))


@spec("GaussianFit.log_prob")
def _(d):
    fit = latent.fit_gaussian(randn(d, 10, 3))
    z = randn(d, d.draw(st.integers(1, 6)), 3)
    return Case({"z": z}, {"z": ["nan", "inf", "extra column", "flattened to 1-D", "list"]}, fit.log_prob,
                lambda out: _shape(out, (z.shape[0],)))


@spec("standard_normal_codes")
def _(d):
    n, k = d.draw(st.integers(1, 6)), d.draw(st.integers(1, 4))
    return Case({"n": n, "k": k, "generator": gen(d)}, {"n": INT_ARG, "k": INT_ARG, "generator": ["not a generator"]},
                latent.standard_normal_codes, lambda out: _shape(out, (n, k)))


@spec("cross_class_pairs")
def _(d):
    m, n = d.draw(st.integers(2, 20)), d.draw(st.integers(1, 10))
    return Case({"labels": torch.arange(m) % 2, "n": n, "generator": gen(d)},
                {"labels": ["float dtype", "no rows", "extra leading axis", "string"], "n": INT_ARG,
                 "generator": ["not a generator"]},
                latent.cross_class_pairs, lambda out: _shape(out[0], (n,)))


@spec("interpolate")
def _(d):
    b, k = d.draw(st.integers(1, 5)), d.draw(st.integers(1, 4))
    t = d.draw(st.sampled_from([0.5, [0.0, 0.25, 1.0]]))
    return Case({"za": randn(d, b, k), "zb": randn(d, b, k), "t": torch.tensor(t)},
                {"za": ["nan", "extra column", "list"], "zb": ["inf", "integer dtype"],
                 "t": ["NaN number", "string", "extra leading axis"]},
                latent.interpolate, lambda out: _finite(out) or pytest.fail("non-finite"))


@spec("cross_class_midpoints")
def _(d):
    m, k = d.draw(st.integers(2, 20)), d.draw(st.integers(1, 4))
    n = d.draw(st.integers(1, 6))
    return Case({"z": randn(d, m, k), "labels": torch.arange(m) % 3, "n": n, "generator": gen(d)},
                {"z": ["nan", "one row fewer", "flattened to 1-D"], "labels": ["float dtype", "one row fewer"],
                 "n": INT_ARG},
                latent.cross_class_midpoints, lambda out: _shape(out, (n, k)))


@spec("add_noise")
def _(d):
    x = rand(d, d.draw(st.integers(1, 5)), d.draw(st.integers(1, 6)))
    return Case({"x": x, "std": d.draw(st.floats(0, 2)), "generator": gen(d)},
                {"x": ["nan", "inf", "integer dtype", "list"], "std": NONNEG_NUMBER, "generator": ["not a generator"]},
                latent.add_noise, lambda out: _shape(out, x.shape))


@spec("denoising_loss")
def _(d):
    c = net(d)
    x, _ = images_for(d, c)
    std = d.draw(st.floats(0, 1))
    return Case({"std": std, "x": x}, {"std": NONNEG_NUMBER, "x": X_MODEL},
                lambda std, x: latent.denoising_loss(std)(built(models.Autoencoder, c), x, None),
                lambda out: _shape(out, ()))


# linear.py --------------------------------------------------------------------------------------------

@spec("linear_ae")
def _(d):
    return Case({"k": d.draw(st.integers(1, 5)), "input_dim": d.draw(st.integers(1, 10))},
                {"k": INT_ARG, "input_dim": INT_ARG}, linear.linear_ae, names={"k": "latent_dim"})


@spec("step_decay")
def _(d):
    return Case({"base": linear.TrainConfig(), "lrs": (1e-3, 3e-4), "epochs_per_stage": d.draw(st.integers(1, 5))},
                {"base": ["string"], "lrs": ["string", "None"], "epochs_per_stage": INT_ARG}, linear.step_decay)


def _w(d, rows=None, cols=None):
    """A random matrix, (D, k) with D >= 4 > k by default (decoder columns)."""
    return randn(d, rows or d.draw(st.integers(4, 8)), cols or d.draw(st.integers(1, 3)))


@spec("column_cosines")
def _(d):
    w = _w(d)
    return Case({"w": w}, {"w": ["nan", "inf", "flattened to 1-D", "integer dtype", "list"]}, linear.column_cosines,
                lambda out: _shape(out, (w.shape[1], w.shape[1])))


@spec("off_diagonal")
def _(d):
    k = d.draw(st.integers(1, 5))
    return Case({"m": randn(d, k, k)}, {"m": ["extra column", "flattened to 1-D", "list"]}, linear.off_diagonal,
                lambda out: _shape(out, (k * (k - 1),)))


@spec("nearest_component_cosines")
def _(d):
    w = _w(d)
    comps = torch.linalg.qr(_w(d, w.shape[0], w.shape[0]))[0]
    return Case({"w": w, "components": comps}, {"w": ["nan", "one row fewer"], "components": ["inf", "one row fewer"]},
                linear.nearest_component_cosines, lambda out: _shape(out, (w.shape[1],)))


@spec("fit_linear_map")
def _(d):
    n = d.draw(st.integers(1, 10))
    return Case({"x": _w(d, n), "y": _w(d, n)}, {"x": ["nan", "one row fewer", "flattened to 1-D"], "y": ["inf", "list"]},
                linear.fit_linear_map, lambda out: _finite(out.A) or pytest.fail("non-finite"))


@spec("r2_score")
def _(d):
    t = _w(d)
    return Case({"pred": t + 0.1, "target": t}, {"pred": ["nan", "extra column"], "target": ["inf", "one row fewer"]},
                linear.r2_score, lambda out: _finite(out) or pytest.fail("non-finite"))


@spec("decoder_singular_vectors")
def _(d):
    w = _w(d)
    return Case({"w_dec": w}, {"w_dec": ["nan", "inf", "flattened to 1-D", "list"]}, linear.decoder_singular_vectors,
                lambda out: _shape(out[0], w.shape))


@spec("principal_directions_in_span")
def _(d):
    w = _w(d)
    x = _w(d, d.draw(st.integers(2, 10)), w.shape[0])
    return Case({"w_dec": w, "x_centred": x - x.mean(0)}, {"w_dec": ["nan", "one row fewer"], "x_centred": ["inf", "extra column"]},
                linear.principal_directions_in_span, lambda out: _shape(out[0], w.shape))


@spec("matched_cosines")
def _(d):
    w = _w(d)
    comps = torch.linalg.qr(_w(d, w.shape[0], w.shape[0]))[0]
    return Case({"recovered": w, "components": comps}, {"recovered": ["nan", "one row fewer"], "components": ["inf", "list"]},
                linear.matched_cosines, lambda out: _shape(out, (w.shape[1],)))


@spec("set_linear_weights")
def _(d):
    dim, k = d.draw(st.integers(1, 6)), d.draw(st.integers(1, 3))
    return Case({"model": linear.linear_ae(k, dim), "w_enc": randn(d, k, dim), "w_dec": randn(d, dim, k)},
                {"model": ["string"], "w_enc": ["nan", "extra column", "list"], "w_dec": ["inf", "one row fewer"]},
                linear.set_linear_weights)


# pca.py -----------------------------------------------------------------------------------------------

@spec("fit_pca")
def _(d):
    x = _w(d, d.draw(st.integers(2, 10)), d.draw(st.integers(1, 6)))
    return Case({"x": x}, {"x": ["nan", "inf", "flattened to 1-D", "integer dtype", "list"]}, pca.fit_pca,
                lambda out: _shape(out.mean, (x.shape[1],)))


def _fitted(d):
    x = _w(d, d.draw(st.integers(3, 10)), d.draw(st.integers(2, 6)))
    return pca.fit_pca(x), x


@spec("PCA.transform")
def _(d):
    p, x = _fitted(d)
    k = d.draw(st.integers(1, p.components.shape[1]))
    return Case({"x": x, "k": k}, {"x": ["nan", "extra column", "float64", "list"], "k": INT_ARG + ["too large"]},
                p.transform, lambda out: _shape(out, (x.shape[0], k)))


@spec("PCA.inverse_transform")
def _(d):
    p, x = _fitted(d)
    z = p.transform(x, 1)
    return Case({"z": z}, {"z": ["nan", "float64", "flattened to 1-D", "list"]}, p.inverse_transform,
                lambda out: _shape(out, x.shape))


@spec("PCA.mse")
def _(d):
    p, x = _fitted(d)
    return Case({"x": x, "k": 1}, {"x": ["inf", "extra column"], "k": INT_ARG}, p.mse,
                lambda out: _finite(out) or pytest.fail("non-finite"))


@spec("PPCA")
def _(d):
    p, x = _fitted(d)
    return Case({"pca": p, "k": 1}, {"pca": ["string"], "k": INT_ARG + ["too large"]}, pca.PPCA)


@spec("PPCA.log_prob")
def _(d):
    x = _w(d, 12, 4)
    model = pca.PPCA(pca.fit_pca(x), 1)
    return Case({"x": x}, {"x": ["nan", "extra column", "flattened to 1-D", "list"]}, model.log_prob,
                lambda out: _shape(out, (12,)))


@spec("PPCA.sample")
def _(d):
    model = pca.PPCA(pca.fit_pca(_w(d, 12, 4)), 1)
    n = d.draw(st.integers(1, 5))
    return Case({"n": n, "generator": gen(d)}, {"n": INT_ARG, "generator": ["not a generator"]}, model.sample,
                lambda out: _shape(out, (n, 4)))


@spec("principal_angles")
def _(d):
    a = _w(d)
    b = _w(d, a.shape[0])
    return Case({"a": a, "b": b}, {"a": ["nan", "one row fewer", "flattened to 1-D"], "b": ["inf", "list"]},
                pca.principal_angles, lambda out: _finite(out) or pytest.fail("non-finite"))


# data.py ----------------------------------------------------------------------------------------------

@spec("binarize")
def _(d):
    x = rand(d, d.draw(st.integers(1, 5)), d.draw(st.integers(1, 6)))
    return Case({"images": x, "generator": gen(d)},
                {"images": ["nan", "above 1", "below 0", "integer dtype", "list"], "generator": ["not a generator"]},
                aedata.binarize, lambda out: _shape(out, x.shape))


# ------------------------------------------------------------------------------------------------------
# The property


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    path = os.environ.get("AEVAE_INPUT_COUNTS")
    if path:
        with open(path, "w") as fh:
            json.dump({k: dict(v) for k, v in sorted(COUNTS.items())}, fh, indent=1, sort_keys=True)


@pytest.mark.parametrize("entry", sorted(SPECS))
@settings(max_examples=EXAMPLES, deadline=None,
          derandomize=os.environ.get("AEVAE_HYPOTHESIS_RANDOM") != "1",  # the same cases every run, unless asked
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_valid_inputs_give_finite_results_and_bad_inputs_clear_errors(entry, data):
    """One random valid case; then the same case with each argument spoiled in each of its ways, in turn."""
    case = SPECS[entry](data)
    case.expect(case.call(**case.args))
    COUNTS[entry]["valid"] += 1
    for arg, kinds in case.bad.items():
        for kind in kinds:
            args = dict(case.args)
            args[arg] = BAD[kind](data, case.args[arg])
            try:
                case.call(**args)
            except (ValueError, TypeError) as err:
                msg = str(err)
                name = case.names.get(arg, arg)
                assert name in msg and " must " in msg, (
                    f"{entry}: {kind} {arg} raised {type(err).__name__} without naming the argument and what it "
                    f"must be: {msg!r}")
                COUNTS[entry][f"{arg}: {kind}"] += 1
                continue
            pytest.fail(f"{entry} accepted a bad {arg} ({kind}) without an error")
