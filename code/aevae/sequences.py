"""Sequence data for chapter 7: synthetic pen strokes with an exact density, and Fashion-MNIST read row
by row.

**Pen strokes.** A stroke is a sequence of 2-D pen offsets ``x_t`` (as in Graves 2013, who models
handwriting by its offsets). A hidden state drives it: the heading ``a_t``, one of ``K`` directions
``360/K`` degrees apart, and ``r_t`` in {-1, +1}, the direction of the most recent turn (right, left).

    a_1 ~ Uniform{0..K-1},  r_1 ~ Uniform{-1, +1}
    at every later step, one of three moves:
      straight          with probability p_straight:                           a_t = a_{t-1}
      turn back         with probability (1 - p_straight) * p_alternate:       r_t = -r_{t-1}, a_t = a_{t-1} + r_t
      turn the same way with probability (1 - p_straight) * (1 - p_alternate): r_t = r_{t-1},  a_t = a_{t-1} + r_t
    (headings mod K; r_t is unchanged by a straight move)
    x_t ~ N(speed * (cos 2 pi a_t / K, sin 2 pi a_t / K), noise^2 I_2)

So the pen runs straight, then turns, mostly the opposite way to its previous turn (zig-zags and
staircases), however many straight steps ago that turn was. Given the past, the next offset is a
mixture of three well-separated Gaussians — never one Gaussian — and which way the next turn goes
depends on a turn that may lie far back. The hidden state ``s_t = (a_t, r_t)`` is a Markov chain with
``2K`` states and the offsets are Gaussian emissions, so the process is a hidden Markov model: its exact
density ``p(x_{1:T})`` is the forward algorithm (Rabiner 1989), a sum over all ``2K * 3^(T-1)`` hidden
paths computed in ``O(T (2K)^2)``.

**Fashion-MNIST as sequences.** An image is read top to bottom, one row of 28 pixels per step:
28 steps of 28 binary pixels (after binarization), modelled with a Bernoulli output, in nats per row.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from . import checks
from .data import binarize, load_fashion_mnist

__all__ = [
    "StrokeProcess",
    "StrokeSample",
    "MoveCounts",
    "read_moves",
    "strokes_to_paths",
    "fashion_mnist_sequences",
    "images_to_sequences",
    "sequences_to_images",
]

MOVES = ("straight", "turn back", "turn same way")


class StrokeSample(NamedTuple):
    x: torch.Tensor  # (N, T, 2) pen offsets, float32
    heading: torch.Tensor  # (N, T) int64 in 0..K-1
    last_turn: torch.Tensor  # (N, T) int64 in {-1, +1}: direction of the most recent turn
    move: torch.Tensor  # (N, T) int64: 0 straight, 1 turn back, 2 turn the same way (-1 at t = 1)


@dataclass(frozen=True)
class StrokeProcess:
    """The synthetic pen-stroke process (see the module docstring). Exact sampling and exact density."""

    n_headings: int = 4
    length: int = 16
    speed: float = 1.0
    noise: float = 0.1
    p_straight: float = 0.5
    p_alternate: float = 0.8

    def __post_init__(self) -> None:
        checks.integer(self.n_headings, "n_headings", "StrokeProcess", minimum=3, fix="n_headings must be an int >= 3")
        checks.integer(self.length, "length", "StrokeProcess", fix="length must be a positive int")
        for name in ("speed", "noise"):
            checks.number(getattr(self, name), name, "StrokeProcess", minimum=0, strict=True,
                          fix="speed and noise must be positive")
        for name in ("p_straight", "p_alternate"):
            checks.number(getattr(self, name), name, "StrokeProcess", minimum=0, maximum=1,
                          fix=f"{name} must be a probability")

    # --- the hidden Markov chain -------------------------------------------------------------------
    @property
    def n_states(self) -> int:
        return 2 * self.n_headings

    def move_probs(self) -> tuple[float, float, float]:
        """P(straight), P(turn back), P(turn the same way): the mixture weights of every later step."""
        turn = 1.0 - self.p_straight
        return self.p_straight, turn * self.p_alternate, turn * (1.0 - self.p_alternate)

    @staticmethod
    def _index(heading: int, last_turn: int) -> int:
        """State index s = 2 * heading + (0 if last_turn == -1 else 1)."""
        return 2 * heading + (last_turn + 1) // 2

    def directions(self, dtype=torch.float64) -> torch.Tensor:
        """The K unit headings, (K, 2)."""
        angle = 2 * math.pi * torch.arange(self.n_headings, dtype=dtype) / self.n_headings
        return torch.stack([angle.cos(), angle.sin()], -1)

    def state_means(self, dtype=torch.float64) -> torch.Tensor:
        """Mean offset of every hidden state, (S, 2); state s has heading s // 2."""
        return self.speed * self.directions(dtype).repeat_interleave(2, 0)

    def transition(self, dtype=torch.float64) -> torch.Tensor:
        """P(s_t = j | s_{t-1} = i), (S, S); each row sums to 1."""
        K = self.n_headings
        P = torch.zeros(self.n_states, self.n_states, dtype=dtype)
        straight, back, same = self.move_probs()
        for a in range(K):
            for r in (-1, 1):
                i = self._index(a, r)
                P[i, self._index(a, r)] += straight
                P[i, self._index((a - r) % K, -r)] += back
                P[i, self._index((a + r) % K, r)] += same
        return P

    def initial(self, dtype=torch.float64) -> torch.Tensor:
        """P(s_1), (S,): uniform heading and last turn."""
        return torch.full((self.n_states,), 1.0 / self.n_states, dtype=dtype)

    # --- sampling ------------------------------------------------------------------------------------
    def sample(self, n: int, generator: torch.Generator | None = None, length: int | None = None) -> StrokeSample:
        """``n`` strokes of ``length`` (default ``self.length``) steps, drawn by the generative story."""
        checks.integer(n, "n", "StrokeProcess.sample")
        if length is not None:
            checks.integer(length, "length", "StrokeProcess.sample")
        checks.generator(generator, "StrokeProcess.sample")
        T = length or self.length
        K = self.n_headings
        heading = torch.empty(n, T, dtype=torch.int64)
        last = torch.empty(n, T, dtype=torch.int64)
        move = torch.full((n, T), -1, dtype=torch.int64)
        heading[:, 0] = torch.randint(0, K, (n,), generator=generator)
        last[:, 0] = 2 * torch.randint(0, 2, (n,), generator=generator) - 1
        probs = torch.tensor(self.move_probs(), dtype=torch.float64)
        for t in range(1, T):
            m = torch.multinomial(probs.expand(n, 3), 1, replacement=True, generator=generator)[:, 0]  # (n,)
            r = torch.where(m == 1, -last[:, t - 1], last[:, t - 1])  # turning back flips the last turn
            heading[:, t] = torch.where(m == 0, heading[:, t - 1], (heading[:, t - 1] + r) % K)
            last[:, t] = r
            move[:, t] = m
        means = self.speed * self.directions()[heading]  # (n, T, 2)
        x = means + self.noise * torch.randn(n, T, 2, generator=generator, dtype=torch.float64)
        return StrokeSample(x.float(), heading, last, move)

    # --- exact density -------------------------------------------------------------------------------
    @staticmethod
    def _check_x(x, where: str, name: str = "x", min_steps: int = 1) -> torch.Tensor:
        """Pen offsets (N, T, 2), finite, with at least ``min_steps`` steps."""
        checks.tensor(x, name, where, ndim=3, dims="(N, T, 2) pen offsets")
        if x.shape[-1] != 2 or x.shape[1] < min_steps:
            checks.fail(where, name, f"(N, T, 2) pen offsets with T >= {min_steps}", checks.describe(x),
                        "one (dx, dy) pair per step, e.g. StrokeProcess().sample(n).x")
        return x

    def _log_emission(self, x: torch.Tensor) -> torch.Tensor:
        """log N(x_t; mean_s, noise^2 I) for every state: (N, T, 2) -> (N, T, S)."""
        x = x.to(torch.float64)
        diff = x.unsqueeze(-2) - self.state_means()  # (N, T, S, 2)
        var = self.noise**2
        return -0.5 * ((diff**2).sum(-1) / var + 2 * math.log(2 * math.pi * var))

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The forward algorithm in log space. Returns the per-step conditionals log p(x_t | x_<t), (N, T),
        and the filtered log P(s_T | x_{1:T}), (N, S)."""
        self._check_x(x, "StrokeProcess.log_prob")
        log_e = self._log_emission(x)  # (N, T, S)
        P = self.transition()  # (S, S)
        log_pred = self.initial().log().expand(x.shape[0], -1)  # (N, S) log P(s_1)
        steps = []
        for t in range(x.shape[1]):
            if t > 0:  # predict: P(s_t | x_<t) = sum_i P(s_{t-1} = i | x_<t) P_ij (probabilities in [0, 1])
                log_pred = (log_filt.exp() @ P).log()
            joint = log_pred + log_e[:, t]  # (N, S) log P(s_t, x_t | x_<t)
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

        Returns the mixture weights (N, S) and the component means (S, 2). An empty prefix (t = 0) gives
        the distribution of the first step."""
        self._check_x(prefix, "StrokeProcess.predictive", "prefix", min_steps=0)
        if prefix.shape[1] == 0:
            return self.initial().expand(prefix.shape[0], -1), self.state_means()
        _, log_filt = self._forward(prefix)
        return log_filt.exp() @ self.transition(), self.state_means()

    def moment_matched_log_prob_steps(self, x: torch.Tensor, diagonal: bool = True) -> torch.Tensor:
        """log N(x_t; m_t, C_t) where m_t and C_t are the mean and covariance of the exact next-step mixture
        p(x_t | x_<t) (C_t's diagonal only if ``diagonal``). (N, T, 2) -> (N, T) float64, nats.

        For each past, the moment-matched Gaussian is the Gaussian (diagonal or full) of least
        cross-entropy with the true next step, so no model whose every step is one such Gaussian — the
        deterministic RNN — can have a lower expected NLL than the mean of ``-`` these values: it is the
        RNN's own floor, above the entropy."""
        self._check_x(x, "StrokeProcess.moment_matched_log_prob_steps")
        x = x.to(torch.float64)
        means = self.state_means()  # (S, 2)
        outer = means.unsqueeze(-1) * means.unsqueeze(-2)  # (S, 2, 2)
        out = []
        for t in range(x.shape[1]):
            w, _ = self.predictive(x[:, :t])  # (N, S)
            m = w @ means  # (N, 2)
            cov = torch.einsum("ns,sij->nij", w, outer) - m.unsqueeze(-1) * m.unsqueeze(-2)
            cov = cov + self.noise**2 * torch.eye(2, dtype=x.dtype)
            if diagonal:
                cov = torch.diag_embed(torch.diagonal(cov, dim1=-2, dim2=-1))
            out.append(torch.distributions.MultivariateNormal(m, cov).log_prob(x[:, t]))
        return torch.stack(out, 1)

    def brute_force_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) by enumerating every hidden path (2K * 3^(T-1) of them), straight from the generative
        story, without the transition matrix: for tests, short sequences only. (N, T, 2) -> (N,)."""
        self._check_x(x, "StrokeProcess.brute_force_log_prob")
        N, T, _ = x.shape
        if self.n_states * 3 ** (T - 1) > 100_000:
            raise ValueError("too many hidden paths to enumerate; use log_prob.")
        dirs = self.speed * self.directions()
        probs = self.move_probs()
        x = x.to(torch.float64)
        terms = []
        for a1 in range(self.n_headings):
            for r1 in (-1, 1):
                for moves in itertools.product(range(3), repeat=T - 1):
                    logp = -math.log(self.n_states)
                    a, r, headings = a1, r1, [a1]
                    for m in moves:
                        logp += math.log(probs[m]) if probs[m] > 0 else -math.inf
                        if m == 1:
                            r = -r
                        if m != 0:
                            a = (a + r) % self.n_headings
                        headings.append(a)
                    sq = ((x - dirs[headings]) ** 2).sum((-1, -2))  # (N,)
                    terms.append(logp - 0.5 * sq / self.noise**2 - T * math.log(2 * math.pi * self.noise**2))
        return torch.logsumexp(torch.stack(terms, -1), -1)

    def entropy(self, n: int = 20_000, generator: torch.Generator | None = None) -> tuple[float, float]:
        """Monte Carlo estimate of the differential entropy H = -E[log p(x_{1:T})] in nats per sequence,
        with its standard error: (estimate, standard error)."""
        checks.integer(n, "n", "StrokeProcess.entropy", minimum=2)
        nll = -self.log_prob(self.sample(n, generator).x)
        return float(nll.mean()), float(nll.std() / math.sqrt(n))


class MoveCounts(NamedTuple):
    """What :func:`read_moves` finds in a batch of strokes, counted over every step t >= 2."""

    moves: torch.Tensor  # (N, T) int64: 0 straight, 1 turn back, 2 turn the same way, 3 reversal (the pen
    #                      never makes it), -1 unreadable (this or the previous offset is off every unit
    #                      step), -2 at t = 1 or a turn with no readable earlier turn to compare it with
    turn_back_rate: float  # turns back / (turns back + turns the same way): the process's p_alternate
    on_a_move: float  # share of steps t >= 2 that read as a possible move (0, 1 or 2)
    reversals: float  # share of steps t >= 2 that read as a reversal (3)


def read_moves(proc: StrokeProcess, x: torch.Tensor) -> MoveCounts:
    """Read strokes (data or samples) back into the moves of the generative story.

    Every offset is snapped to its nearest unit heading if it lies within ``3 * noise`` of it; a step is
    readable when it and the previous offset are. A heading change of 0 is straight, of +-1 a turn, else
    a reversal. A turn is compared with the most recent turn read in the stroke (back if opposite, same
    if equal); after an unreadable step or a reversal there is none until the next turn. For
    the process's own strokes ``turn_back_rate`` estimates ``p_alternate`` however many steps back the
    previous turn was: a model whose samples keep it remembers that turn across the sequence.
    (N, T, 2) -> :class:`MoveCounts`.
    """
    where = "read_moves"
    if not isinstance(proc, StrokeProcess):
        checks.fail(where, "proc", "a StrokeProcess", checks.describe(proc), kind=TypeError)
    StrokeProcess._check_x(x, where, min_steps=2)
    if x.shape[0] < 1:
        checks.fail(where, "x", "at least one stroke (N >= 1, T >= 2, 2)", checks.describe(x))
    K = proc.n_headings
    dist, heading = torch.cdist(x.double().reshape(-1, 2), proc.speed * proc.directions()).min(1)
    heading, on = heading.reshape(x.shape[:2]), (dist < 3 * proc.noise).reshape(x.shape[:2])  # (N, T) each
    N, T = heading.shape
    moves = torch.full((N, T), -2, dtype=torch.int64)
    last = torch.zeros(N, dtype=torch.int64)  # direction of the last turn seen, 0 = none (yet, or lost)
    for t in range(1, T):
        local = on[:, t] & on[:, t - 1]  # both offsets on a unit step: the move is readable
        change = (heading[:, t] - heading[:, t - 1]) % K  # 0 straight, 1 or K-1 a turn, else a reversal
        turn = torch.where(change == 1, 1, torch.where(change == K - 1, -1, 0))  # +1 / -1 / 0
        m = torch.where(change == 0, 0, torch.where(turn == 0, 3, torch.where(last == 0, -2,
                        torch.where(turn == -last, 1, 2))))
        moves[:, t] = torch.where(local, m, -1)
        last = torch.where(~local | (m == 3), 0, torch.where(turn != 0, turn, last))
    later = moves[:, 1:]  # steps t >= 2
    back, same = int((later == 1).sum()), int((later == 2).sum())
    possible = (later == -2) | ((later >= 0) & (later <= 2))
    return MoveCounts(moves, back / max(back + same, 1), float(possible.double().mean()),
                      float((later == 3).double().mean()))


def strokes_to_paths(x: torch.Tensor) -> torch.Tensor:
    """Pen positions from offsets, starting at the origin: (N, T, 2) -> (N, T + 1, 2)."""
    StrokeProcess._check_x(x, "strokes_to_paths", min_steps=0)
    start = torch.zeros_like(x[:, :1])
    return torch.cat([start, x], 1).cumsum(1)


def images_to_sequences(images: torch.Tensor, side: int = 28) -> torch.Tensor:
    """Read each image row by row, top to bottom: (N, side*side) -> (N, T=side, D=side)."""
    checks.integer(side, "side", "images_to_sequences")
    images = checks.batch(images, side * side, "images", "images_to_sequences")
    return images.reshape(images.shape[0], side, side)


def sequences_to_images(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`images_to_sequences`: (N, T, D) -> (N, T*D)."""
    checks.tensor(x, "x", "sequences_to_images", ndim=3, dims="(N, T, D)")
    return x.reshape(x.shape[0], -1)


def fashion_mnist_sequences(split: str = "train", n: int | None = None, binarize_seed: int | None = None,
                            start: int = 0) -> torch.Tensor:
    """Fashion-MNIST images ``start .. start+n`` of ``split`` as sequences of rows, (n, 28, 28).

    Grey levels in [0, 1] if ``binarize_seed`` is None (binarize them on the fly in training), else
    binarized once with a generator seeded by ``binarize_seed`` (a fixed binary test set).
    """
    where = "fashion_mnist_sequences"
    if n is not None:
        checks.integer(n, "n", where)
    checks.integer(start, "start", where, minimum=0)
    if binarize_seed is not None:
        checks.integer(binarize_seed, "binarize_seed", where, minimum=0)
    images = load_fashion_mnist(split).images
    stop = images.shape[0] if n is None else start + n
    if stop > images.shape[0]:
        raise ValueError(f"the {split} split has {images.shape[0]} images, asked for {start}..{stop}.")
    x = images[start:stop]
    if binarize_seed is not None:
        x = binarize(x, torch.Generator().manual_seed(binarize_seed))
    return images_to_sequences(x)
