"""An interactive latent explorer for two 2-D decoders (chapter 4's k = 2 AE and VAE), with no kernel.

:class:`Explorer` (or :func:`explorer_html`) renders self-contained HTML + JavaScript: for each model a
map of test-image codes coloured by class (or, on a click, a grid of decoded images) and the image its
decoder produces at the pointer, updated live as the pointer moves over either map (both decoders get
the same code z), plus a slider that interpolates between two test images' codes (each model between
its own codes of the two images). The decoders run *in the page*: their weights are exported
(:func:`decoder_weights`), written into the HTML as base64 (float16 by default, see
:func:`encode_layers`) and evaluated by a small MLP forward pass in plain JavaScript. The same output
works in the rendered book (no kernel), in Jupyter and in Colab; it loads nothing from the network.

The JavaScript forward pass is :func:`forward` below, line for line: float32 (or float16-rounded)
weights, double-precision sums. Each explorer gets its own element ids (several can share a page) and
registers itself as ``window.aevaeExplorer[id]``, with ``decode(model, z)`` (the decoder's mean image,
784 values), ``setCode(z)``, ``setT(t)`` and ``pixels(model)`` (the drawn image read back from its canvas,
0-255 grey levels, 255 = white; the canvas shows ``255 * (1 - p)``, dark ink on white, like the book's
figures, so ``pixels`` returns ``255 - round(255 * p)``).
"""

from __future__ import annotations

import base64
import hashlib
import html as _html
import itertools
import json
from typing import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["decoder_weights", "encode_layers", "decode_layers", "forward", "explorer_html", "Explorer",
           "standalone_page", "PRECISIONS"]

PRECISIONS = ("float32", "float16")
_ACTIVATION_NAMES = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Identity: "identity", nn.Sigmoid: "sigmoid"}
_OUTPUTS = {"sigmoid", "identity"}
# matplotlib's tab10, the book's class colours (aevae.plotting.latent_scatter)
TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
         "#17becf"]
_COUNTER = itertools.count()


# ------------------------------------------------------------------------------------------- weights
def _sequential_and_output(model: nn.Module, output: str | None) -> tuple[nn.Sequential, str]:
    """The decoder's nn.Sequential and the nonlinearity that turns its output into a mean image."""
    from .models import VAE, Autoencoder, Decoder

    if isinstance(model, Autoencoder):
        default, model = model.config.output, model.decoder
    elif isinstance(model, VAE):  # Bernoulli logits (or the Gaussian VAE's sigmoid mean): the mean image
        default, model = "sigmoid", model.decoder
    else:
        default = "identity"
    if isinstance(model, Decoder):
        model = model.net
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"decoder_weights: expected an Autoencoder, a VAE, a Decoder or an nn.Sequential of "
                        f"Linear layers and activations, got {type(model).__name__}.")
    output = default if output is None else output
    if output not in _OUTPUTS:
        raise ValueError(f"decoder_weights: output must be one of {sorted(_OUTPUTS)}, got {output!r}.")
    return model, output


def decoder_weights(model: nn.Module, output: str | None = None) -> list[dict]:
    """The decoder of ``model`` as a list of layers ``{"weight": (out, in) float32, "bias": (out,) float32,
    "activation": "relu" | "elu" | "tanh" | "sigmoid" | "identity"}``, applied in order as
    ``h = activation(weight @ h + bias)``.

    ``model``: an :class:`~aevae.models.Autoencoder` (its output nonlinearity, ``config.output``, becomes the
    last layer's activation), a :class:`~aevae.models.VAE` (the sigmoid of the logits: the Bernoulli mean
    image), a :class:`~aevae.models.Decoder` or an ``nn.Sequential`` of ``Linear`` layers and activations
    (``output`` defaults to ``"identity"`` for these). ``output`` overrides the final nonlinearity."""
    seq, output = _sequential_and_output(model, output)
    layers: list[dict] = []
    for module in seq:
        if isinstance(module, nn.Linear):
            weight = module.weight.detach().to("cpu", torch.float32).numpy().copy()
            bias = (module.bias.detach().to("cpu", torch.float32).numpy().copy() if module.bias is not None
                    else np.zeros(module.out_features, np.float32))
            layers.append({"weight": weight, "bias": bias, "activation": "identity"})
            continue
        if isinstance(module, nn.ELU):
            if module.alpha != 1.0:
                raise ValueError(f"decoder_weights: only ELU(alpha=1) is supported, got alpha={module.alpha}.")
            name = "elu"
        elif type(module) in _ACTIVATION_NAMES:
            name = _ACTIVATION_NAMES[type(module)]
        else:
            raise TypeError(f"decoder_weights: cannot export a {type(module).__name__} layer (Linear, ReLU, ELU, "
                            "Tanh, Sigmoid and Identity are supported).")
        if name == "identity":
            continue
        if not layers or layers[-1]["activation"] != "identity":
            raise ValueError(f"decoder_weights: a {type(module).__name__} that does not follow a Linear layer.")
        layers[-1]["activation"] = name
    if not layers:
        raise ValueError("decoder_weights: the decoder has no Linear layer.")
    if output != "identity":
        if layers[-1]["activation"] != "identity":
            raise ValueError("decoder_weights: the last layer already has an activation; pass output='identity'.")
        layers[-1]["activation"] = output
    for a, b in zip(layers[:-1], layers[1:]):
        if a["weight"].shape[0] != b["weight"].shape[1]:
            raise ValueError(f"decoder_weights: layer sizes do not chain: {a['weight'].shape} then {b['weight'].shape}.")
    return layers


def _b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).decode("ascii")


def _unb64(text: str, dtype: str, shape) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<")).astype(np.float32).reshape(shape)


def encode_layers(layers: list[dict], precision: str = "float16") -> list[dict]:
    """The layers as JSON-ready dicts for the page: sizes, activation, and the weights (in ``precision``:
    ``"float16"`` halves the bytes, ``"float32"`` is exact) and biases (always float32) as base64
    little-endian bytes."""
    if precision not in PRECISIONS:
        raise ValueError(f"encode_layers: precision must be one of {PRECISIONS}, got {precision!r}.")
    out = []
    for layer in layers:
        weight, bias = np.asarray(layer["weight"], np.float32), np.asarray(layer["bias"], np.float32)
        if weight.ndim != 2 or bias.shape != (weight.shape[0],):
            raise ValueError(f"encode_layers: weight (out, in) and bias (out,) expected, got {weight.shape} and {bias.shape}.")
        if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
            raise ValueError("encode_layers: the weights are not all finite.")
        if precision == "float16" and np.abs(weight).max() > 65504:
            raise ValueError("encode_layers: a weight is too large for float16; use precision='float32'.")
        out.append({"in": int(weight.shape[1]), "out": int(weight.shape[0]), "act": layer["activation"],
                    "dtype": precision, "w": _b64(weight, precision), "b": _b64(bias, "float32")})
    return out


def decode_layers(encoded: list[dict]) -> list[dict]:
    """Inverse of :func:`encode_layers`: the layers as float32 arrays (float16 weights come back rounded)."""
    return [{"weight": _unb64(e["w"], e["dtype"], (e["out"], e["in"])), "bias": _unb64(e["b"], "float32", (e["out"],)),
             "activation": e["act"]} for e in encoded]


_NUMPY_ACTIVATIONS = {
    "relu": lambda s: np.maximum(s, 0.0),
    "elu": lambda s: np.where(s > 0, s, np.expm1(np.minimum(s, 0.0))),
    "tanh": np.tanh,
    "sigmoid": lambda s: 1.0 / (1.0 + np.exp(-s)),
    "identity": lambda s: s,
}


def forward(layers: list[dict], z) -> np.ndarray:
    """The page's forward pass in numpy: the layers' float32 weights, sums in float64. z (..., k) -> (..., D)."""
    h = np.asarray(z, np.float64)
    for layer in layers:
        w = np.asarray(layer["weight"], np.float32).astype(np.float64)
        h = _NUMPY_ACTIVATIONS[layer["activation"]](h @ w.T + np.asarray(layer["bias"], np.float32))
    return h


# -------------------------------------------------------------------------------------------- the page
def _array(x, name: str, dims: int) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu").numpy()
    x = np.asarray(x)
    if x.ndim != dims:
        raise ValueError(f"explorer_html: {name} must have {dims} dimension(s), got shape {x.shape}.")
    return x


def _extent(codes: np.ndarray) -> list[float]:
    """A square view [x0, x1, y0, y1] around the middle 99.6% of the codes, 8% margin, with the origin's
    radius-2 circle in view when it is close."""
    lo, hi = np.quantile(codes, 0.002, axis=0), np.quantile(codes, 0.998, axis=0)
    centre, half = (lo + hi) / 2, float(np.max(hi - lo)) / 2 * 1.08
    half = max(half, 1e-3)
    return [float(centre[0] - half), float(centre[0] + half), float(centre[1] - half), float(centre[1] + half)]


def explorer_html(ae, vae, codes_ae, codes_vae, labels, *, images=None, pair: tuple[int, int] | None = None,
                  class_names: Sequence[str] | None = None, names: tuple[str, str] = ("AE", "VAE"),
                  n_points: int = 2000, precision: str = "float16", seed: int = 0, element_id: str | None = None,
                  outputs: tuple[str | None, str | None] = (None, None)) -> str:
    """Self-contained HTML (a ``<div>``, a ``<style>`` and a ``<script>``; no external URL) of the explorer.

    ``ae``, ``vae``: the two models (or decoders, see :func:`decoder_weights`; ``outputs`` overrides each
    one's final nonlinearity), both with a 2-D code. ``codes_ae``, ``codes_vae``: (N, 2) codes of the same
    N test images (the AE's codes and the VAE's posterior means), ``labels`` (N,) their classes;
    ``n_points`` of them, drawn with ``seed``, make each map's background. ``images`` (N, 784) in [0, 1]:
    if given, the two interpolation end points are shown. ``pair``: the indices of the two images to
    interpolate between (default: image 0 and the first image of another class). ``element_id``: the
    explorer's id (default: from a hash of its content and a per-process counter, unique on a page)."""
    codes = [_array(codes_ae, "codes_ae", 2).astype(np.float64), _array(codes_vae, "codes_vae", 2).astype(np.float64)]
    labels = _array(labels, "labels", 1).astype(np.int64)
    n = len(labels)
    for c in codes:
        if c.shape != (n, 2):
            raise ValueError(f"explorer_html: codes must be (N, 2) with N = len(labels) = {n}, got {c.shape}.")
    if n < 2:
        raise ValueError("explorer_html: need at least two codes.")
    if labels.min() < 0:
        raise ValueError("explorer_html: labels must be non-negative class indices.")
    n_classes = int(labels.max()) + 1
    class_names = [str(c) for c in (class_names if class_names is not None else range(n_classes))]
    if len(class_names) < n_classes:
        raise ValueError(f"explorer_html: {len(class_names)} class names for {n_classes} classes.")
    nets = [encode_layers(decoder_weights(m, o), precision) for m, o in zip((ae, vae), outputs)]
    for net, name in zip(nets, names):
        if net[0]["in"] != 2:
            raise ValueError(f"explorer_html: the {name} decoder takes {net[0]['in']}-D codes; the explorer needs 2-D.")
    side = int(round(np.sqrt(nets[0][-1]["out"])))
    if any(net[-1]["out"] != side * side for net in nets):
        raise ValueError("explorer_html: both decoders must output the same square image (D = side^2).")
    if pair is None:
        other = np.flatnonzero(labels != labels[0])
        pair = (0, int(other[0]) if len(other) else 1)
    i, j = (int(p) for p in pair)
    if not (0 <= i < n and 0 <= j < n):
        raise ValueError(f"explorer_html: pair {pair} out of range for {n} codes.")
    pick = np.sort(np.random.default_rng(seed).permutation(n)[:min(n_points, n)])
    data = {
        "names": list(names),
        "side": side,
        "classes": class_names[:n_classes],
        "colors": [TAB10[c % 10] for c in range(n_classes)],
        "nets": nets,
        "codes": [_b64(c[pick], "float32") for c in codes],
        "labels": base64.b64encode(labels[pick].astype(np.uint8).tobytes()).decode("ascii"),
        "extents": [_extent(c) for c in codes],
        "pair": [i, j],
        "pairLabels": [class_names[labels[i]], class_names[labels[j]]],
        "pairCodes": [[c[i].tolist(), c[j].tolist()] for c in codes],
        "pairImages": None,
    }
    if images is not None:
        imgs = _array(images, "images", 2)
        if imgs.shape[0] != n or imgs.shape[1] != side * side:
            raise ValueError(f"explorer_html: images must be (N, {side * side}), got {imgs.shape}.")
        data["pairImages"] = [base64.b64encode(np.round(np.clip(imgs[k], 0, 1) * 255).astype(np.uint8).tobytes())
                              .decode("ascii") for k in (i, j)]
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")  # no "</script>" inside the script
    if element_id is None:
        element_id = f"aevae-explorer-{hashlib.sha1(payload.encode()).hexdigest()[:8]}-{next(_COUNTER)}"
    eid = _html.escape(element_id, quote=True)
    jid = json.dumps(element_id)
    a, b = (_html.escape(s) for s in names)
    panels = "".join(f"""
  <div class="aevae-x-panel">
    <div class="aevae-x-title">{nm}</div>
    <canvas class="aevae-x-map" data-model="{m}" width="{_MAP_PX}" height="{_MAP_PX}" aria-label="{nm} latent map"></canvas>
    <div class="aevae-x-side">
      <canvas class="aevae-x-img" data-model="{m}" width="{side}" height="{side}" aria-label="{nm} decoded image"></canvas>
      <div class="aevae-x-z" data-model="{m}"></div>
    </div>
  </div>""" for m, nm in enumerate((a, b)))
    pair_imgs = "" if images is None else (
        f'<canvas class="aevae-x-end" data-end="0" width="{side}" height="{side}"></canvas>', 
        f'<canvas class="aevae-x-end" data-end="1" width="{side}" height="{side}"></canvas>')
    left, right = pair_imgs if pair_imgs else ("", "")
    return f"""<div class="aevae-explorer" id="{eid}">
<style>
#{eid} {{font: 13px/1.35 system-ui, sans-serif; color: #222; max-width: 100%;}}
#{eid} .aevae-x-row {{display: flex; flex-wrap: wrap; gap: 16px;}}
#{eid} .aevae-x-panel {{display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start;}}
#{eid} .aevae-x-title {{width: 100%; font-weight: 600;}}
#{eid} .aevae-x-map {{width: {_MAP_PX}px; height: {_MAP_PX}px; border: 1px solid #bbb; cursor: crosshair; touch-action: none;}}
#{eid} .aevae-x-img {{width: 92px; height: 92px; border: 1px solid #bbb; image-rendering: pixelated;}}
#{eid} .aevae-x-end {{width: 42px; height: 42px; border: 1px solid #bbb; image-rendering: pixelated; vertical-align: middle;}}
#{eid} .aevae-x-z {{font-family: ui-monospace, monospace; font-size: 10px; width: 94px; white-space: nowrap;}}
#{eid} .aevae-x-controls {{margin-top: 8px; display: flex; flex-wrap: wrap; gap: 10px; align-items: center;}}
#{eid} .aevae-x-legend span {{margin-right: 8px; white-space: nowrap;}}
#{eid} .aevae-x-legend i {{display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 3px;}}
#{eid} input[type=range] {{width: 220px; vertical-align: middle;}}
#{eid} button {{font: inherit; padding: 1px 8px;}}
</style>
<div class="aevae-x-row">{panels}
</div>
<div class="aevae-x-controls">
  <label>Interpolate {left} <span class="aevae-x-pa"></span>
  <input class="aevae-x-t" type="range" min="0" max="1" step="0.01" value="0" aria-label="interpolation">
  <span class="aevae-x-pb"></span> {right}</label>
  <button type="button" class="aevae-x-bg">Background: decoded images</button>
</div>
<div class="aevae-x-legend"></div>
<div class="aevae-x-help">Move the pointer over either map: both decoders decode the code z under it (the
cross marks z in each map). The slider decodes each model's straight line between its own codes of two
test images.</div>
<noscript>The explorer needs JavaScript.</noscript>
<script>
{_JS}
window.aevaeExplorerLib.create({jid}, {payload});
</script>
</div>"""


_MAP_PX = 200

_JS = r"""
// Defined anew by every explorer output (a notebook re-run after a code change gets the new code);
// explorers already on the page keep their own.
window.aevaeExplorerLib = (function () {
  "use strict";
  var HALF = null;
  function halfTable() {
    if (HALF) return HALF;
    HALF = new Float32Array(65536);
    for (var h = 0; h < 65536; h++) {
      var s = (h & 0x8000) ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
      HALF[h] = e === 0 ? s * f * Math.pow(2, -24)
              : e === 31 ? (f ? NaN : s * Infinity)
              : s * (1 + f / 1024) * Math.pow(2, e - 15);
    }
    return HALF;
  }
  function bytes(b64) {
    var bin = atob(b64), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function floats(b64, dtype) {  // little-endian float32 / float16 -> Float32Array
    var u = bytes(b64), dv = new DataView(u.buffer), out, i;
    if (dtype === "float32") {
      out = new Float32Array(u.length / 4);
      for (i = 0; i < out.length; i++) out[i] = dv.getFloat32(4 * i, true);
    } else if (dtype === "float16") {
      var t = halfTable();
      out = new Float32Array(u.length / 2);
      for (i = 0; i < out.length; i++) out[i] = t[dv.getUint16(2 * i, true)];
    } else throw new Error("aevae explorer: unknown dtype " + dtype);
    return out;
  }
  var ACT = {
    relu: function (s) { return s > 0 ? s : 0; },
    elu: function (s) { return s > 0 ? s : Math.expm1(s); },
    tanh: Math.tanh,
    sigmoid: function (s) { return 1 / (1 + Math.exp(-s)); },
    identity: function (s) { return s; }
  };
  function loadNet(layers) {
    return layers.map(function (l) {
      return {n: l["in"], m: l.out, act: ACT[l.act], w: floats(l.w, l.dtype), b: floats(l.b, "float32")};
    });
  }
  function forward(net, z) {  // aevae.explorer.forward: float32 weights, double sums
    var h = Float64Array.from(z);
    for (var k = 0; k < net.length; k++) {
      var L = net[k], o = new Float64Array(L.m), w = L.w, n = L.n;
      for (var r = 0; r < L.m; r++) {
        var s = 0, off = r * n;
        for (var c = 0; c < n; c++) { var x = h[c]; if (x !== 0) s += w[off + c] * x; }
        o[r] = L.act(s + L.b[r]);
      }
      h = o;
    }
    return h;
  }
  function paint(canvas, values, side) {  // mean image p in [0, 1] -> dark ink on white
    var ctx = canvas.getContext("2d"), img = ctx.createImageData(side, side), d = img.data;
    for (var i = 0; i < side * side; i++) {
      var p = Math.min(1, Math.max(0, values[i])), g = 255 - Math.round(255 * p);
      d[4 * i] = d[4 * i + 1] = d[4 * i + 2] = g; d[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }
  function create(id, D) {
    var root = document.getElementById(id);
    if (!root) return null;
    var q = function (sel) { return root.querySelectorAll(sel); };
    var nets = D.nets.map(loadNet), side = D.side, PX = 0;
    var codes = D.codes.map(function (c) { return floats(c, "float32"); });
    var labels = bytes(D.labels);
    var maps = q("canvas.aevae-x-map"), imgs = q("canvas.aevae-x-img"), zs = q(".aevae-x-z");
    var slider = root.querySelector(".aevae-x-t"), bgButton = root.querySelector(".aevae-x-bg");
    var state = {mode: "pointer", z: [0, 0], t: 0, background: "codes"};
    var backgrounds = {codes: [], grid: []};
    PX = maps[0].width;
    function toPx(m, z) {
      var e = D.extents[m];
      return [(z[0] - e[0]) / (e[1] - e[0]) * PX, (e[3] - z[1]) / (e[3] - e[2]) * PX];
    }
    function toZ(m, px) {
      var e = D.extents[m];
      return [e[0] + px[0] / PX * (e[1] - e[0]), e[3] - px[1] / PX * (e[3] - e[2])];
    }
    function codesLayer(m) {
      var c = document.createElement("canvas"); c.width = c.height = PX;
      var ctx = c.getContext("2d"), e = D.extents[m];
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, PX, PX);
      ctx.globalAlpha = 0.55;
      for (var i = 0; i < labels.length; i++) {
        var p = toPx(m, [codes[m][2 * i], codes[m][2 * i + 1]]);
        ctx.fillStyle = D.colors[labels[i]];
        ctx.fillRect(p[0] - 1.5, p[1] - 1.5, 3, 3);
      }
      ctx.globalAlpha = 1;
      axes(ctx, m);
      return c;
    }
    function gridLayer(m) {
      var n = 13, c = document.createElement("canvas"); c.width = c.height = n * side;
      var ctx = c.getContext("2d"), tile = document.createElement("canvas");
      tile.width = tile.height = side;
      for (var a = 0; a < n; a++) for (var b = 0; b < n; b++) {
        var z = toZ(m, [(b + 0.5) / n * PX, (a + 0.5) / n * PX]);
        paint(tile, forward(nets[m], z), side);
        ctx.drawImage(tile, b * side, a * side);
      }
      var out = document.createElement("canvas"); out.width = out.height = PX;
      var o = out.getContext("2d");
      o.imageSmoothingEnabled = true; o.drawImage(c, 0, 0, PX, PX);
      axes(o, m);
      return out;
    }
    function axes(ctx, m) {
      var e = D.extents[m], o = toPx(m, [0, 0]), r = toPx(m, [2, 0])[0] - o[0];
      ctx.strokeStyle = "rgba(0,0,0,0.35)"; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(0, o[1]); ctx.lineTo(PX, o[1]); ctx.moveTo(o[0], 0); ctx.lineTo(o[0], PX); ctx.stroke();
      ctx.setLineDash([4, 3]); ctx.beginPath(); ctx.arc(o[0], o[1], r, 0, 2 * Math.PI); ctx.stroke(); ctx.setLineDash([]);
      ctx.font = "10px sans-serif";
      label(ctx, "z1: " + e[0].toFixed(1) + " to " + e[1].toFixed(1), 16, PX - 4);
      ctx.save(); ctx.translate(11, PX - 4); ctx.rotate(-Math.PI / 2);
      label(ctx, "z2: " + e[2].toFixed(1) + " to " + e[3].toFixed(1), 12, 0); ctx.restore();
    }
    function label(ctx, text, x, y) {
      var w = ctx.measureText(text).width;
      ctx.fillStyle = "rgba(255,255,255,0.8)"; ctx.fillRect(x - 2, y - 9, w + 4, 12);
      ctx.fillStyle = "#333"; ctx.fillText(text, x, y);
    }
    function background(m) {
      var kind = state.background, cache = backgrounds[kind];
      if (!cache[m]) cache[m] = kind === "grid" ? gridLayer(m) : codesLayer(m);
      return cache[m];
    }
    function codeOf(m) {
      if (state.mode === "pointer") return state.z;
      var p = D.pairCodes[m], t = state.t;
      return [(1 - t) * p[0][0] + t * p[1][0], (1 - t) * p[0][1] + t * p[1][1]];
    }
    function cross(ctx, p, color) {
      ctx.strokeStyle = color; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(p[0] - 7, p[1]); ctx.lineTo(p[0] + 7, p[1]);
      ctx.moveTo(p[0], p[1] - 7); ctx.lineTo(p[0], p[1] + 7); ctx.stroke();
    }
    function draw() {
      for (var m = 0; m < maps.length; m++) {
        var ctx = maps[m].getContext("2d"), z = codeOf(m);
        ctx.drawImage(background(m), 0, 0);
        var a = toPx(m, D.pairCodes[m][0]), b = toPx(m, D.pairCodes[m][1]);
        ctx.strokeStyle = state.mode === "interp" ? "#000" : "rgba(0,0,0,0.3)"; ctx.lineWidth = 1.5;
        ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
        ctx.fillStyle = "#000"; ctx.fillRect(a[0] - 3, a[1] - 3, 6, 6); ctx.fillRect(b[0] - 3, b[1] - 3, 6, 6);
        var p = toPx(m, z);
        cross(ctx, p, "#fff"); ctx.lineWidth = 1; cross(ctx, p, "#000");
        paint(imgs[m], forward(nets[m], z), side);
        zs[m].textContent = "z=(" + z[0].toFixed(2) + "," + z[1].toFixed(2) + ")";
      }
    }
    function onPointer(m) {
      return function (ev) {
        var r = maps[m].getBoundingClientRect();
        state.mode = "pointer";
        state.z = toZ(m, [(ev.clientX - r.left) / r.width * PX, (ev.clientY - r.top) / r.height * PX]);
        draw();
      };
    }
    for (var m = 0; m < maps.length; m++) {
      maps[m].addEventListener("pointermove", onPointer(m));
      maps[m].addEventListener("pointerdown", onPointer(m));
    }
    slider.addEventListener("input", function () { state.mode = "interp"; state.t = +slider.value; draw(); });
    bgButton.addEventListener("click", function () {
      state.background = state.background === "codes" ? "grid" : "codes";
      bgButton.textContent = "Background: " + (state.background === "codes" ? "decoded images" : "codes of test images");
      draw();
    });
    root.querySelector(".aevae-x-pa").textContent = D.pairLabels[0];
    root.querySelector(".aevae-x-pb").textContent = D.pairLabels[1];
    if (D.pairImages) {
      var ends = q("canvas.aevae-x-end");
      for (var k = 0; k < 2; k++) {
        var px = bytes(D.pairImages[k]), v = new Float64Array(px.length);
        for (var i = 0; i < px.length; i++) v[i] = px[i] / 255;
        paint(ends[k], v, side);
      }
    }
    var legend = root.querySelector(".aevae-x-legend");
    D.classes.forEach(function (name, c) {
      var s = document.createElement("span"), dot = document.createElement("i");
      dot.style.background = D.colors[c]; s.appendChild(dot); s.appendChild(document.createTextNode(name));
      legend.appendChild(s);
    });
    draw();
    var api = {
      id: id, names: D.names, extents: D.extents,
      decode: function (m, z) { return Array.from(forward(nets[typeof m === "string" ? D.names.indexOf(m) : m], z)); },
      setCode: function (z) { state.mode = "pointer"; state.z = [z[0], z[1]]; draw(); },
      setT: function (t) { state.mode = "interp"; state.t = t; slider.value = t; draw(); },
      code: function (m) { return codeOf(m); },
      pixels: function (m) {
        var d = imgs[m].getContext("2d").getImageData(0, 0, side, side).data, out = [];
        for (var i = 0; i < side * side; i++) out.push(d[4 * i]);
        return out;
      }
    };
    window.aevaeExplorer = window.aevaeExplorer || {};
    window.aevaeExplorer[id] = api;
    return api;
  }
  return {create: create, forward: forward, floats: floats};
})();
"""


def standalone_page(fragment: str, title: str = "Latent explorer") -> str:
    """A complete HTML document around an explorer's fragment (for a file opened on its own)."""
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
            f"<title>{_html.escape(title)}</title></head>\n"
            f"<body>\n{fragment}\n</body></html>\n")


class Explorer:
    """The explorer as a notebook output: ``Explorer(ae2, vae2, codes_ae, codes_vae, labels, ...)`` displays
    itself (``_repr_html_``) in Jupyter, Colab and the rendered book. The arguments are those of
    :func:`explorer_html`; ``.html`` is the fragment, ``.save(path)`` writes a standalone page.

    Page weight: the weights dominate, 2 bytes each as float16, base64 (4/3). Chapter 4's two k = 2 decoders
    (2 -> 256 -> 512 -> 784, 534,544 parameters each) make about 2.9 MB; float32 doubles it."""

    def __init__(self, ae, vae, codes_ae, codes_vae, labels, **kwargs):
        self.html = explorer_html(ae, vae, codes_ae, codes_vae, labels, **kwargs)

    @property
    def nbytes(self) -> int:
        """What the explorer adds to a page, in bytes (UTF-8)."""
        return len(self.html.encode("utf-8"))

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<aevae latent explorer, {self.nbytes / 1e6:.2f} MB of HTML; display it in a notebook or save() it>"

    def save(self, path) -> None:
        from pathlib import Path

        Path(path).write_text(standalone_page(self.html), encoding="utf-8")
