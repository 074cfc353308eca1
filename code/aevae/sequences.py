"""Sequence data for chapter 6: synthetic pen strokes with an exact density, and Fashion-MNIST read row
by row.

**Pen strokes.** A stroke is a sequence of 2-D pen offsets ``x_t`` (as in Graves 2013, who models
handwriting by its offsets). A hidden state drives it: a heading ``a_t`` (one of ``K`` directions,
``360/K`` degrees apart) and a turn ``d_t`` in {right, straight, left} = {-1, 0, +1} headings.

    a_1 ~ Uniform{0..K-1},  d_1 ~ Uniform{-1, 0, +1}
    d_t = d_{t-1} with probability ``persist``, else a fresh uniform draw from {-1, 0, +1}   (t >= 2)
    a_t = (a_{t-1} + d_t) mod K                                                                (t >= 2)
    x_t ~ N(speed * (cos 2 pi a_t / K, sin 2 pi a_t / K), noise^2 I_2)

So at every step the pen keeps turning the way it was turning, or turns one of three ways anew: given
the past, the next offset is a mixture of up to three well-separated Gaussians, never one Gaussian.
The hidden state ``s_t = (a_t, d_t)`` is a Markov chain with ``3K`` states and the offsets are
Gaussian emissions, so the process is a hidden Markov model and its exact density ``p(x_{1:T})`` is the
forward algorithm (Rabiner 1989) — a sum over all ``K * 3^T`` hidden paths computed in ``O(T (3K)^2)``.

**Fashion-MNIST as sequences.** An image is read top to bottom, one row of 28 pixels per step:
28 steps of 28 binary pixels (after binarization), modelled with a Bernoulli output, in nats per row.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .data import binarize, load_fashion_mnist

__all__ = [
    "StrokeProcess",
    "StrokeSample",
    "strokes_to_paths",
    "fashion_mnist_sequences",
    "images_to_sequences",
    "sequences_to_images",
]

TURNS = (-1, 0, 1)  # right, straight, left, in units of 360/K degrees


class StrokeSample(NamedTuple):
    x: torch.Tensor  # (N, T, 2) pen offsets
    heading: torch.Tensor  # (N, T) int64 in 0..K-1
    turn: torch.Tensor  # (N, T) int64 in {-1, 0, 1}


@dataclass(frozen=True)
class StrokeProcess:
    """The synthetic pen-stroke process (see the module docstring). Exact sampling and exact density."""

    n_headings: int = 8
    length: int = 20
    speed: float = 1.0
    noise: float = 0.1
    persist: float = 0.6

    def __post_init__(self) -> None:
        if not isinstance(self.n_headings, int) or self.n_headings < 3:
            raise ValueError(f"n_headings must be an int >= 3, got {self.n_headings!r}.")
        if not isinstance(self.length, int) or self.length < 1:
            raise ValueError(f"length must be a positive int, got {self.length!r}.")
        if not self.noise > 0 or not self.speed > 0:
            raise ValueError("speed and noise must be positive.")
        if not 0 <= self.persist <= 1:
            raise ValueError(f"persist must be a probability, got {self.persist!r}.")

    # --- the hidden Markov chain -------------------------------------------------------------------
    @property
    def n_states(self) -> int:
        return 3 * self.n_headings

    def _state(self, heading: torch.Tensor, turn: torch.Tensor) -> torch.Tensor:
        """State index s = 3 * heading + (turn + 1)."""
        return 3 * heading + (turn + 1)

    def directions(self, dtype=torch.float64) -> torch.Tensor:
        """The K unit headings, (K, 2)."""
        angle = 2 * math.pi * torch.arange(self.n_headings, dtype=dtype) / self.n_headings
        return torch.stack([angle.cos(), angle.sin()], -1)

    def state_means(self, dtype=torch.float64) -> torch.Tensor:
        """Mean offset of every hidden state, (S, 2); state s has heading s // 3."""
        return self.speed * self.directions(dtype).repeat_interleave(3, 0)

    def turn_probs(self, dtype=torch.float64) -> torch.Tensor:
        """P(d_t = j | d_{t-1} = i), (3, 3): keep the turn w.p. ``persist``, else a uniform new draw."""
        return self.persist * torch.eye(3, dtype=dtype) + (1 - self.persist) / 3

    def transition(self, dtype=torch.float64) -> torch.Tensor:
        """P(s_t = j | s_{t-1} = i), (S, S); each row sums to 1."""
        K, S = self.n_headings, self.n_states
        P = torch.zeros(S, S, dtype=dtype)
        D = self.turn_probs(dtype)
        for a, i in itertools.product(range(K), range(3)):
            for j, d in enumerate(TURNS):
                P[3 * a + i, 3 * ((a + d) % K) + j] = D[i, j]
        return P

    def initial(self, dtype=torch.float64) -> torch.Tensor:
        """P(s_1), (S,): uniform heading and turn."""
        return torch.full((self.n_states,), 1.0 / self.n_states, dtype=dtype)

    # --- sampling ------------------------------------------------------------------------------------
    def sample(self, n: int, generator: torch.Generator | None = None, length: int | None = None) -> StrokeSample:
        """``n`` strokes of ``length`` (default ``self.length``) steps: offsets (n, T, 2) float32."""
        T = length or self.length
        K = self.n_headings
        heading = torch.empty(n, T, dtype=torch.int64)
        turn = torch.empty(n, T, dtype=torch.int64)
        heading[:, 0] = torch.randint(0, K, (n,), generator=generator)
        turn[:, 0] = torch.randint(0, 3, (n,), generator=generator) - 1
        for t in range(1, T):
            keep = torch.rand(n, generator=generator) < self.persist
            fresh = torch.randint(0, 3, (n,), generator=generator) - 1
            turn[:, t] = torch.where(keep, turn[:, t - 1], fresh)
            heading[:, t] = (heading[:, t - 1] + turn[:, t]) % K
        means = self.speed * self.directions()[heading]  # (n, T, 2)
        x = means + self.noise * torch.randn(n, T, 2, generator=generator, dtype=torch.float64)
        return StrokeSample(x.float(), heading, turn)

    # --- exact density -------------------------------------------------------------------------------
    def _log_emission(self, x: torch.Tensor) -> torch.Tensor:
        """log N(x_t; mean_s, noise^2 I) for every state: (N, T, 2) -> (N, T, S)."""
        x = x.to(torch.float64)
        diff = x.unsqueeze(-2) - self.state_means()  # (N, T, S, 2)
        var = self.noise**2
        return -0.5 * ((diff**2).sum(-1) / var + 2 * math.log(2 * math.pi * var))

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The forward algorithm in log space. Returns the per-step conditionals log p(x_t | x_<t), (N, T),
        and the filtered log P(s_T | x_{1:T}), (N, S)."""
        if x.ndim != 3 or x.shape[-1] != 2:
            raise ValueError(f"x must be (N, T, 2) offsets, got shape {tuple(x.shape)}.")
        log_e = self._log_emission(x)  # (N, T, S)
        log_P = self.transition().log()  # (S, S), -inf where impossible
        log_prior = self.initial().log().expand(x.shape[0], -1)  # (N, S) = log P(s_1)
        steps = []
        for t in range(x.shape[1]):
            if t > 0:  # predict: log P(s_t | x_<t)
                log_prior = torch.logsumexp(log_filt.unsqueeze(-1) + log_P, dim=-2)
            joint = log_prior + log_e[:, t]  # (N, S) log P(s_t, x_t | x_<t)
            step = torch.logsumexp(joint, -1)  # (N,) log p(x_t | x_<t)
            log_filt = joint - step.unsqueeze(-1)  # (N, S) log P(s_t | x_<=t)
            steps.append(step)
        return torch.stack(steps, 1), log_filt

    def log_prob_steps(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x_t | x_<t) for every step, nats, (N, T, 2) -> (N, T) float64."""
        return self._forward(x)[0]

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x_{1:T}) per sequence, nats, (N, T, 2) -> (N,) float64."""
        return self.log_prob_steps(x).sum(-1)

    def predictive(self, prefix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact next-step distribution p(x_{t+1} | x_{1:t}) = sum_s w_s N(mean_s, noise^2 I).

        Returns the mixture weights (N, S) and the component means (S, 2). An empty prefix (T = 0) gives
        the distribution of the first step."""
        if prefix.shape[1] == 0:
            return self.initial().expand(prefix.shape[0], -1), self.state_means()
        _, log_filt = self._forward(prefix)
        return log_filt.exp() @ self.transition(), self.state_means()

    def brute_force_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) by enumerating every hidden path (K * 3^T of them): for tests, short sequences only."""
        N, T, _ = x.shape
        if self.n_headings * 3**T > 200_000:
            raise ValueError("too many hidden paths to enumerate; use log_prob.")
        dirs = self.speed * self.directions()
        D = self.turn_probs()
        x = x.to(torch.float64)
        terms = []
        for a1 in range(self.n_headings):
            for turns in itertools.product(range(3), repeat=T):  # turn indices 0, 1, 2 = -1, 0, +1
                logp = math.log(1 / self.n_headings) + math.log(1 / 3)
                a = a1
                headings = [a1]
                for t in range(1, T):
                    logp += math.log(D[turns[t - 1], turns[t]])
                    a = (a + TURNS[turns[t]]) % self.n_headings
                    headings.append(a)
                mean = dirs[headings]  # (T, 2)
                ll = -0.5 * (((x - mean) ** 2).sum((-1, -2)) / self.noise**2
                             + 2 * T * math.log(2 * math.pi * self.noise**2))
                terms.append(logp + ll)
        return torch.logsumexp(torch.stack(terms, -1), -1)

    def entropy(self, n: int = 20_000, generator: torch.Generator | None = None) -> tuple[float, float]:
        """Monte Carlo estimate of the differential entropy H = -E[log p(x_{1:T})] in nats per sequence,
        with its standard error: (estimate, standard error)."""
        nll = -self.log_prob(self.sample(n, generator).x)
        return float(nll.mean()), float(nll.std() / math.sqrt(n))


def strokes_to_paths(x: torch.Tensor) -> torch.Tensor:
    """Pen positions from offsets, starting at the origin: (N, T, 2) -> (N, T + 1, 2)."""
    start = torch.zeros_like(x[:, :1])
    return torch.cat([start, x], 1).cumsum(1)


def images_to_sequences(images: torch.Tensor, side: int = 28) -> torch.Tensor:
    """Read each image row by row, top to bottom: (N, side*side) -> (N, T=side, D=side)."""
    return images.reshape(images.shape[0], side, side)


def sequences_to_images(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`images_to_sequences`: (N, T, D) -> (N, T*D)."""
    return x.reshape(x.shape[0], -1)


def fashion_mnist_sequences(split: str = "train", n: int | None = None, binarize_seed: int | None = None,
                            start: int = 0) -> torch.Tensor:
    """Fashion-MNIST images ``start .. start+n`` of ``split`` as sequences of rows, (n, 28, 28).

    Grey levels in [0, 1] if ``binarize_seed`` is None (binarize them on the fly in training), else
    binarized once with a generator seeded by ``binarize_seed`` (a fixed binary test set).
    """
    images = load_fashion_mnist(split).images
    stop = images.shape[0] if n is None else start + n
    if stop > images.shape[0]:
        raise ValueError(f"the {split} split has {images.shape[0]} images, asked for {start}..{stop}.")
    x = images[start:stop]
    if binarize_seed is not None:
        x = binarize(x, torch.Generator().manual_seed(binarize_seed))
    return images_to_sequences(x)
