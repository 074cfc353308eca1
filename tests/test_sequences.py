import math

import pytest
import torch
from torch.distributions import Normal

from aevae.sequences import (
    StrokeProcess,
    fashion_mnist_sequences,
    images_to_sequences,
    read_moves,
    sequences_to_images,
    strokes_to_paths,
)

PROCESSES = [
    StrokeProcess(length=4),
    StrokeProcess(n_headings=6, length=5, noise=0.3, p_straight=0.2, p_alternate=0.6),
    StrokeProcess(n_headings=3, length=3, speed=0.5, noise=0.2, p_straight=0.0, p_alternate=1.0),  # zero-prob moves
]


@pytest.mark.parametrize("proc", PROCESSES)
def test_forward_algorithm_matches_brute_force_sum_over_paths(proc):
    g = torch.Generator().manual_seed(0)
    x = proc.sample(7, g).x
    x_far = x + 0.5 * torch.randn(x.shape, generator=g)  # also off the data, where few paths matter
    for data in (x, x_far):
        torch.testing.assert_close(proc.log_prob(data), proc.brute_force_log_prob(data), rtol=0, atol=1e-9)


@pytest.mark.parametrize("proc", PROCESSES)
def test_chain_is_a_distribution(proc):
    P = proc.transition()
    torch.testing.assert_close(P.sum(1), torch.ones(proc.n_states, dtype=P.dtype))
    assert (P >= 0).all()
    assert math.isclose(float(proc.initial().sum()), 1.0)
    assert math.isclose(sum(proc.move_probs()), 1.0)


def test_first_step_density_integrates_to_one():
    proc = StrokeProcess(length=1, noise=0.2)
    grid = torch.linspace(-2.5, 2.5, 501, dtype=torch.float64)
    xx, yy = torch.meshgrid(grid, grid, indexing="ij")
    x = torch.stack([xx, yy], -1).reshape(-1, 1, 2)
    dens = proc.log_prob(x).exp().reshape(501, 501)
    step = float(grid[1] - grid[0])
    assert abs(float(dens.sum()) * step**2 - 1.0) < 1e-3


def test_density_normalises_and_agrees_with_the_sampler():
    """E_{x~q}[p(x)/q(x)] = 1 checks that p integrates to one (over 3-step sequences); E_{x~p}[q(x)/p(x)] = 1
    checks that p's sampler draws from p's density. q is another stroke process (broader, other moves)."""
    p = StrokeProcess(length=3, noise=0.15)
    q = StrokeProcess(length=3, noise=0.25, p_straight=0.3, p_alternate=0.5)
    n = 200_000
    xq = q.sample(n, torch.Generator().manual_seed(1)).x.double()
    w = (p.log_prob(xq) - q.log_prob(xq)).exp()
    assert abs(float(w.mean()) - 1) < 4 * float(w.std()) / math.sqrt(n)
    xp = p.sample(n, torch.Generator().manual_seed(2)).x.double()
    v = (q.log_prob(xp) - p.log_prob(xp)).exp()
    assert abs(float(v.mean()) - 1) < 4 * float(v.std()) / math.sqrt(n)
    # A sampler with the wrong noise fails the same check.
    wrong = StrokeProcess(length=3, noise=0.12).sample(n, torch.Generator().manual_seed(3)).x.double()
    u = (q.log_prob(wrong) - p.log_prob(wrong)).exp()
    assert abs(float(u.mean()) - 1) > 4 * float(u.std()) / math.sqrt(n)


def test_sampler_follows_the_generative_story():
    proc = StrokeProcess(length=30, p_straight=0.4, p_alternate=0.75)
    s = proc.sample(4000, torch.Generator().manual_seed(4))
    assert s.x.shape == (4000, 30, 2) and s.x.dtype == torch.float32
    moves = s.move[:, 1:]
    freq = torch.bincount(moves.reshape(-1), minlength=3).double() / moves.numel()
    torch.testing.assert_close(freq, torch.tensor(proc.move_probs(), dtype=torch.float64), atol=0.01, rtol=0)
    dh = (s.heading[:, 1:] - s.heading[:, :-1]) % proc.n_headings
    turned = moves != 0
    assert (dh[~turned] == 0).all()
    assert ((s.last_turn[:, 1:] % proc.n_headings)[turned] == dh[turned]).all()  # turned by the new last turn
    assert (s.last_turn[:, 1:][moves == 1] == -s.last_turn[:, :-1][moves == 1]).all()
    assert (s.last_turn[:, 1:][moves != 1] == s.last_turn[:, :-1][moves != 1]).all()
    noise = s.x.double() - proc.directions()[s.heading]
    assert abs(float(noise.std()) - proc.noise) < 0.005 and abs(float(noise.mean())) < 0.005


def test_steps_predictive_and_entropy_agree():
    proc = StrokeProcess(length=6)
    x = proc.sample(50, torch.Generator().manual_seed(5)).x
    steps = proc.log_prob_steps(x)
    torch.testing.assert_close(steps.sum(1), proc.log_prob(x))
    for t in range(6):  # the exact predictive mixture, evaluated at x_t, is p(x_t | x_<t)
        w, means = proc.predictive(x[:, :t])
        comp = torch.distributions.Normal(means, proc.noise).log_prob(x[:, t].double().unsqueeze(1)).sum(-1)  # (N, S)
        torch.testing.assert_close(torch.logsumexp(comp + w.log(), -1), steps[:, t])
    h, se = proc.entropy(4000, torch.Generator().manual_seed(6))
    gauss = math.log(2 * math.pi * math.e * proc.noise**2)  # entropy of the 2-D noise, per step
    moves = -sum(p * math.log(p) for p in proc.move_probs())
    lower = 6 * gauss  # no choice at all
    upper = 6 * gauss + math.log(proc.n_states) + 5 * moves  # every hidden choice visible
    assert lower < h < upper and 0 < se < 0.2


def test_paths_and_image_sequences():
    x = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    torch.testing.assert_close(strokes_to_paths(x), torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]]]))
    imgs = torch.rand(3, 784)
    seq = images_to_sequences(imgs)
    assert seq.shape == (3, 28, 28)
    torch.testing.assert_close(seq[1, 2], imgs[1, 56:84])  # step t is row t
    torch.testing.assert_close(sequences_to_images(seq), imgs)


def test_fashion_mnist_sequences():
    grey = fashion_mnist_sequences("test", 20, start=5)
    assert grey.shape == (20, 28, 28)
    b1 = fashion_mnist_sequences("test", 20, binarize_seed=0, start=5)
    b2 = fashion_mnist_sequences("test", 20, binarize_seed=0, start=5)
    assert torch.equal(b1, b2) and set(b1.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError):
        fashion_mnist_sequences("test", 20, start=9990)
    with pytest.raises(ValueError):
        StrokeProcess(p_straight=1.5)


def test_moment_matched_gaussian_is_the_best_single_gaussian_and_exact_when_unimodal():
    proc = StrokeProcess(length=5, noise=0.2)
    x = proc.sample(20_000, torch.Generator().manual_seed(7)).x
    mm = proc.moment_matched_log_prob_steps(x)  # (N, T)
    full = proc.moment_matched_log_prob_steps(x, diagonal=False)
    exact = proc.log_prob_steps(x)
    assert (exact.mean(0) > full.mean(0)).all() and (full.mean(0) >= mm.mean(0) - 1e-4).all()
    # Any other per-step Gaussian (here: shifted, or widened) has a larger cross-entropy.
    for t in (0, 3):
        w, means = proc.predictive(x[:, :t])
        m = w @ means
        var = torch.stack([(w * (means[:, i] - m[:, i : i + 1]) ** 2).sum(-1) for i in range(2)], -1) + proc.noise**2
        for dm, scale in ((0.1, 1.0), (0.0, 1.3), (0.0, 0.7)):
            other = Normal(m + dm, (scale * var).sqrt()).log_prob(x[:, t].double()).sum(-1)
            assert other.mean() < mm[:, t].mean()
    # With no turns at all the heading never changes: after the first step the next offset is one Gaussian.
    straight = StrokeProcess(length=4, p_straight=1.0)
    xs = straight.sample(50, torch.Generator().manual_seed(8)).x
    torch.testing.assert_close(straight.moment_matched_log_prob_steps(xs)[:, 2:], straight.log_prob_steps(xs)[:, 2:],
                               atol=1e-6, rtol=0)


def test_read_moves_recovers_the_generative_moves_and_p_alternate():
    proc = StrokeProcess(length=12, p_straight=0.3, p_alternate=0.7)
    s = proc.sample(5000, torch.Generator().manual_seed(9))
    read = read_moves(proc, s.x)
    later, true = read.moves[:, 1:], s.move[:, 1:]
    known = later >= 0  # readable, and a turn with an earlier turn read in the stroke
    assert (later[known] == true[known]).all()  # every move it names is the move the pen made
    assert float((later == -1).double().mean()) < 0.03  # 3 sigma: almost every step is readable
    assert abs(read.turn_back_rate - proc.p_alternate) < 0.02 and read.reversals == 0
    assert read.on_a_move > 0.97
    # hand-made strokes (headings 0 = east, 1 = north, 3 = south): straight, turn, back, same, reversal, off
    e, n, w, south = [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]
    x = torch.tensor([[e, e, n, e, south, n, [0.5, 0.5], e, n]])
    m = read_moves(StrokeProcess(), x).moves[0].tolist()
    # e->e straight; e->n first turn (+1, nothing to compare); n->e turn -1: back; e->s turn -1: same;
    # s->n reversal; then an offset off every step (unreadable twice); e->n first turn again
    assert m == [-2, 0, -2, 1, 2, 3, -1, -1, -2]
    assert read_moves(StrokeProcess(), torch.tensor([[e, n, e, n, w]])).turn_back_rate == 2 / 3
    with pytest.raises(TypeError):
        read_moves("strokes", x)
    with pytest.raises(ValueError):
        read_moves(proc, x[:, :1])
