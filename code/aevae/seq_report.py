"""Chapter 7's plumbing: training a dict of jobs, the likelihood tables, paired differences, where
sampled offsets land, and the chapter's figures of strokes, training curves and KL per step.

The models, the bound and the data are elsewhere (:mod:`aevae.recurrent`, :mod:`aevae.sequences`); this
module only assembles and draws what the chapter measures with them, so that its cells show the idea.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch

from .sequences import StrokeProcess, strokes_to_paths

__all__ = ["train_models", "nll_table", "per_unit", "paired_excess", "on_a_move_share", "landing_shares",
           "last_epochs_slope", "draw_strokes", "training_curves", "kl_per_step"]


def train_models(jobs: Mapping, verbose: bool = True, start_first: Sequence[str] = ()):
    """Run a dict of :class:`aevae.jobs.TrainJob` (``{kind: job}``) through :func:`aevae.jobs.run_jobs`,
    the kinds in ``start_first`` first, then the others from the last to the first (the chapter lists the
    slow latent models last: the longest trainings start first, so no worker idles at the end), and print
    one line per kind.

    Returns ``(models, histories)``, two dicts in the order of ``jobs``: the trained models (eval mode)
    and their :class:`aevae.train.History`.
    """
    from .jobs import run_jobs

    unknown = [kind for kind in start_first if kind not in jobs]
    if unknown:
        raise KeyError(f"train_models: start_first names {unknown}, which are not among the jobs {list(jobs)}.")
    slow_first = list(start_first) + [kind for kind in list(jobs)[::-1] if kind not in start_first]
    results = dict(zip(slow_first, run_jobs([jobs[kind] for kind in slow_first], verbose=verbose)))
    results = {kind: results[kind] for kind in jobs}
    if verbose:
        for kind, r in results.items():
            print(f"{kind:13s} {r.history.steps} steps in {r.history.seconds:5.1f} s"
                  f"{' (cached)' if r.cached else ''}, last epoch's loss {r.history.loss[-1]:8.3f}")
    return {kind: r.model() for kind, r in results.items()}, {kind: r.history for kind, r in results.items()}


def nll_table(rows: Mapping, steps: int, unit: str, ref: torch.Tensor | None = None, ref_name: str = "true NLL"):
    """A table of per-sequence NLLs (or bounds on them), one row per ``(model, quantity)`` key of ``rows``
    (each value an (N,) tensor, nats per sequence): the mean per ``unit`` (divided by ``steps``) and per
    sequence, and with ``ref`` (N,) the mean paired difference to it per ``unit`` with its standard error.
    Rounded to 3 decimals; a pandas DataFrame indexed by (model, quantity).
    """
    import pandas as pd

    records = []
    for (model, quantity), v in rows.items():
        rec = {"model": model, "quantity": quantity, f"nats per {unit}": float(v.mean()) / steps,
               "nats per sequence": float(v.mean())}
        if ref is not None:
            d = (v - ref).double()
            rec[f"minus {ref_name}, per {unit}"] = float(d.mean()) / steps
            rec["± s.e."] = float(d.std() / math.sqrt(len(d))) / steps
        records.append(rec)
    return pd.DataFrame(records).set_index(["model", "quantity"]).round(3)


def per_unit(rows: Mapping, kind: str, quantity: str, steps: int) -> float:
    """The mean of ``rows[(kind, quantity)]`` (nats per sequence) divided by ``steps``."""
    return float(rows[(kind, quantity)].mean()) / steps


def paired_excess(values: torch.Tensor, ref: torch.Tensor, steps: int) -> tuple[float, float]:
    """Mean and standard error of the paired difference ``values - ref`` (both (N,), nats per sequence),
    per step: ``(mean, s.e.)``."""
    d = (values - ref).double() / steps
    return float(d.mean()), float(d.std() / math.sqrt(len(d)))


def on_a_move_share(proc: StrokeProcess, x: torch.Tensor) -> float:
    """Share of the offsets of ``x`` (N, T, 2) within ``3 * proc.noise`` of a unit step the pen can take
    (any of the process's state means)."""
    dist = torch.cdist(x.reshape(-1, 2).double(), proc.state_means())  # (N*T, S)
    return float((dist.min(1).values < 3 * proc.noise).double().mean())


def landing_shares(proc: StrokeProcess, pts: torch.Tensor, heading_w: torch.Tensor) -> dict[str, float]:
    """Where next offsets ``pts`` (N, 2) land, given the exact probability ``heading_w`` (N, K) of each
    next heading: the shares on a possible move (within ``3 * noise`` of a unit step of positive
    probability), on the impossible move (near a unit step of probability zero), and on no move."""
    dist, idx = torch.cdist(pts.double(), proc.speed * proc.directions()).min(1)  # nearest unit step
    on = dist < 3 * proc.noise
    possible = heading_w.gather(1, idx[:, None])[:, 0] > 1e-9
    return {"on a possible move": float((on & possible).double().mean()),
            "on the impossible move": float((on & ~possible).double().mean()),
            "on no move": float((~on).double().mean())}


def last_epochs_slope(loss: Sequence[float], steps: int, epochs: int = 2) -> float:
    """Mean improvement per epoch of a per-epoch loss over its last ``epochs`` epochs, per step."""
    return (loss[-1 - epochs] - loss[-1]) / epochs / steps


def draw_strokes(axes, x: torch.Tensor, color, label: str | None = None) -> None:
    """Draw each stroke of ``x`` (N, T, 2), as the pen path of its offsets, on one of ``axes``; a dot
    marks the start; ``label`` names the first axis (its y label)."""
    for i, (ax, path) in enumerate(zip(axes, strokes_to_paths(x))):
        ax.plot(path[:, 0], path[:, 1], "-", color=color, lw=1.3)
        ax.plot(path[0, 0], path[0, 1], "o", color=color, ms=3)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
        if label and i == 0:
            ax.set_ylabel(label)


def training_curves(histories: Mapping, colors: Mapping, steps: int, entropy: float | None = None, ax=None):
    """The per-epoch training objective of each history, per step (divided by ``steps``), with a dashed
    line at ``entropy``. Returns the axis."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.4))
    for kind, h in histories.items():
        ax.plot(np.arange(1, len(h.loss) + 1), np.array(h.loss) / steps, "o-", color=colors[kind], ms=3,
                label=kind)
    if entropy is not None:
        ax.axhline(entropy, ls="--", color="gray", lw=1, label="entropy")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training objective [nats per step]")
    ax.legend(ncol=2)
    return ax


def kl_per_step(kl: Mapping, colors: Mapping, xlabel: str, ylabel: str, reference: float | None = None,
                reference_label: str = "", ms: float | None = None, ax=None):
    """Mean KL per step (each value a (T,) tensor) against the step 1..T, one line per model; a dashed
    line at ``reference``. Returns the axis."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.4))
    style = {} if ms is None else {"ms": ms}
    for kind, v in kl.items():
        ax.plot(np.arange(1, len(v) + 1), v.numpy(), "o-", color=colors[kind], label=kind, **style)
    if reference is not None:
        ax.axhline(reference, ls="--", color="gray", lw=1, label=reference_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax
