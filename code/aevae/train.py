"""One training loop for every model in the book, on tensors held in memory.

No DataLoader: the data sets fit in memory, so each epoch is a seeded permutation and slices of it.
That is simpler and fully seeded; it is not faster than a DataLoader over a TensorDataset at the
book's batch size (benchmarks/run.py measures the ratio: about 1.0, compute dominates).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .book import progress

__all__ = ["TrainConfig", "History", "NonFiniteLossError", "fit", "batched"]

LossFn = Callable[[nn.Module, torch.Tensor, torch.Generator], torch.Tensor]


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss."""


@dataclass(frozen=True)
class TrainConfig:
    """Budget and optimiser, defined once and reused by the chapters."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    grad_clip: float | None = None  # max global grad norm, applied before the optimiser step

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive int, got {self.epochs!r}.")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}.")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}.")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}.")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be positive or None, got {self.grad_clip!r}.")


@dataclass
class History:
    loss: list[float] = field(default_factory=list)  # mean training loss per epoch
    seconds: float = 0.0  # wall time of the whole fit (without the time spent in ``on_epoch``)
    steps: int = 0
    epoch_seconds: list[float] = field(default_factory=list)  # training time at the end of each epoch


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    x: torch.Tensor,
    config: TrainConfig = TrainConfig(),
    device: torch.device | str | None = None,
    transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    desc: str = "training",
    on_epoch: Callable[[int, nn.Module], None] | None = None,
) -> History:
    """Train ``model`` in place with Adam on ``loss_fn(model, batch, generator)``, a scalar to minimise.

    ``x`` is the whole training set (N, ...) in memory; ``transform(batch, generator)`` is applied to
    each batch on the fly (e.g. dynamic binarization, added noise). Everything random comes from one
    generator seeded with ``config.seed``, so a fit is reproducible. Raises
    :class:`NonFiniteLossError` at the first NaN/inf loss, naming the epoch and step.
    ``on_epoch(epoch, model)`` is called after each epoch (e.g. to evaluate a held-out objective); its time
    is not counted in ``History.seconds``, and it must not draw from the training's random streams.
    """
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty tensor (N, ...), got {getattr(x, 'shape', type(x))}.")
    if not torch.isfinite(x).all():
        raise ValueError("x holds NaN or infinite values; clean the data before training.")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # anything inside the model that uses the global RNG
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    hist = History()
    n = x.shape[0]
    start, paused = time.perf_counter(), 0.0
    model.train()
    for epoch in progress(range(config.epochs), desc=desc):
        perm = torch.randperm(n, generator=gen)
        total, count = 0.0, 0
        for step, i in enumerate(range(0, n, config.batch_size)):
            batch = x[perm[i : i + config.batch_size]]
            if transform is not None:
                batch = transform(batch, gen)
            batch = batch.to(device, non_blocking=True)
            try:
                loss = loss_fn(model, batch, gen)
            except ValueError as err:  # an input check inside the model or the loss fired
                if hist.steps == 0:
                    raise  # the first step: the data or the model do not fit together
                # the same shapes passed before: training itself produced NaN/inf values (diverged)
                raise NonFiniteLossError(
                    f"Training diverged at epoch {epoch + 1}, step {step + 1} ({desc}): {err}. Training stopped: "
                    f"lower the learning rate (now {config.lr}) or set grad_clip."
                ) from err
            if not torch.isfinite(loss):
                raise NonFiniteLossError(
                    f"The loss became {loss.item()} at epoch {epoch + 1}, step {step + 1} ({desc}). "
                    f"Training stopped: lower the learning rate (now {config.lr}), set grad_clip, "
                    "or check the inputs for extreme values."
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            total += loss.item() * batch.shape[0]
            count += batch.shape[0]
            hist.steps += 1
        hist.loss.append(total / count)
        hist.epoch_seconds.append(time.perf_counter() - start - paused)
        if on_epoch is not None:
            pause = time.perf_counter()
            state = torch.random.get_rng_state()
            on_epoch(epoch + 1, model)
            torch.random.set_rng_state(state)
            model.train()
            paused += time.perf_counter() - pause
    hist.seconds = time.perf_counter() - start - paused
    model.eval()
    return hist


@torch.no_grad()
def batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 2048,
            device: torch.device | str | None = None) -> torch.Tensor:
    """Apply ``fn`` to ``x`` in batches without gradients and concatenate the results on the CPU."""
    outs = []
    for i in range(0, x.shape[0], batch_size):
        b = x[i : i + batch_size]
        outs.append(fn(b.to(device) if device is not None else b).cpu())
    return torch.cat(outs, 0)
