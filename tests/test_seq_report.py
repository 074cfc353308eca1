"""aevae.seq_report, chapter 7's plumbing: each function against a reference computed another way."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from aevae import seq_report as S  # noqa: E402
from aevae.jobs import DataSpec, TrainJob, run_jobs  # noqa: E402
from aevae.recurrent import RecurrentConfig  # noqa: E402
from aevae.sequences import StrokeProcess  # noqa: E402
from aevae.train import History, TrainConfig  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture
def proc():
    return StrokeProcess()


def test_per_unit_and_paired_excess_against_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    rows = {("m", "NLL"): torch.tensor(a, dtype=torch.float32)}
    assert S.per_unit(rows, "m", "NLL", 16) == pytest.approx(a.mean() / 16, rel=1e-6)
    mean, se = S.paired_excess(torch.tensor(a), torch.tensor(b), 4)
    d = (a - b) / 4
    assert mean == pytest.approx(d.mean(), rel=1e-12)
    assert se == pytest.approx(d.std(ddof=1) / math.sqrt(50), rel=1e-12)  # sample std, as torch's


def test_nll_table_rows_columns_and_values():
    ref = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    rows = {("A", "NLL (exact)"): ref + 2.0, ("B", "bound"): ref + torch.tensor([0.0, 2.0, 0.0, 2.0]).double()}
    t = S.nll_table(rows, 2, "step", ref=ref)
    assert list(t.index) == [("A", "NLL (exact)"), ("B", "bound")]
    assert list(t.columns) == ["nats per step", "nats per sequence", "minus true NLL, per step", "± s.e."]
    assert t.loc[("A", "NLL (exact)"), "nats per sequence"] == 4.5
    assert t.loc[("A", "NLL (exact)"), "nats per step"] == 2.25
    assert t.loc[("A", "NLL (exact)"), "minus true NLL, per step"] == 1.0
    assert t.loc[("A", "NLL (exact)"), "± s.e."] == 0.0
    # B: differences 0, 2, 0, 2: mean 1, sample std 2/sqrt(3), s.e. 1/sqrt(3), per step halved
    assert t.loc[("B", "bound"), "minus true NLL, per step"] == 0.5
    assert t.loc[("B", "bound"), "± s.e."] == round(1 / math.sqrt(3) / 2, 3)
    plain = S.nll_table(rows, 1, "row", ref=None)
    assert list(plain.columns) == ["nats per row", "nats per sequence"]
    named = S.nll_table(rows, 1, "row", ref=ref, ref_name="RNN NLL")
    assert "minus RNN NLL, per row" in named.columns


def test_on_a_move_share_counts_offsets_near_a_unit_step(proc):
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.25], [0.0, -1.0], [0.5, 0.5]]])  # on, on (0.25 < 0.3), on, off
    assert S.on_a_move_share(proc, x) == 0.75
    data = proc.sample(2000, torch.Generator().manual_seed(0)).x
    expected = 1 - math.exp(-9 / 2)  # a 2-d Gaussian within 3 sigma of its mean
    assert abs(S.on_a_move_share(proc, data) - expected) < 0.005


def test_landing_shares_sort_possible_impossible_and_none(proc):
    dirs = proc.speed * proc.directions()  # (K, 2)
    heading_w = torch.tensor([[0.5, 0.4, 0.0, 0.1]] * 4, dtype=torch.float64)  # heading 2 impossible
    pts = torch.stack([dirs[0], dirs[2] + 0.1, dirs[3], torch.tensor([0.5, 0.5], dtype=torch.float64)])
    shares = S.landing_shares(proc, pts, heading_w)
    assert shares == {"on a possible move": 0.5, "on the impossible move": 0.25, "on no move": 0.25}
    assert sum(shares.values()) == 1.0


def test_last_epochs_slope():
    assert S.last_epochs_slope([10.0, 8.0, 6.0, 5.0, 2.0], steps=2) == pytest.approx((6.0 - 2.0) / 2 / 2)
    assert S.last_epochs_slope([3.0, 2.0, 0.0], steps=1, epochs=1) == 2.0


def test_draw_strokes_draws_the_pen_paths(proc):
    x = proc.sample(3, torch.Generator().manual_seed(1)).x
    fig, axes = plt.subplots(1, 3)
    S.draw_strokes(axes, x, "C0", label="data")
    for ax, stroke in zip(axes, x):
        line = ax.lines[0]
        path = np.vstack([[0.0, 0.0], np.cumsum(stroke.numpy(), 0)])
        np.testing.assert_allclose(np.c_[line.get_xdata(), line.get_ydata()], path, rtol=1e-6, atol=1e-6)
        assert len(ax.lines) == 2  # the path and its start
    assert axes[0].get_ylabel() == "data" and axes[1].get_ylabel() == ""


def test_training_curves_and_kl_per_step_plot_per_step_values():
    hist = {"A": History(loss=[32.0, 16.0, 8.0]), "B": History(loss=[16.0, 16.0, 0.0])}
    ax = S.training_curves(hist, {"A": "C0", "B": "C1"}, steps=16, entropy=-0.5)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [2.0, 1.0, 0.5])
    np.testing.assert_allclose(ax.lines[1].get_xdata(), [1, 2, 3])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["A", "B", "entropy"]
    ax = S.kl_per_step({"V": torch.tensor([3.0, 2.0])}, {"V": "C2"}, "step t", "KL", reference=1.0,
                       reference_label="one move")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [3.0, 2.0])
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [1, 2])
    assert ax.lines[1].get_ydata()[0] == 1.0 and ax.get_xlabel() == "step t"


def test_train_models_keeps_the_order_and_matches_run_jobs(monkeypatch, capsys):
    monkeypatch.setenv("AEVAE_CACHE", "off")
    monkeypatch.setenv("AEVAE_JOBS", "1")
    monkeypatch.delenv("AEVAE_DASK_SCHEDULER", raising=False)
    cfg = RecurrentConfig(x_dim=2, z_dim=2, h_dim=8, hidden=8)
    data, train = DataSpec("strokes", n=32, seed=1), TrainConfig(epochs=1, batch_size=16, seed=0)
    jobs = {"RNN": TrainJob("rnn", cfg, "rnn", data, train, name="RNN"),
            "MDN-RNN": TrainJob("mdn_rnn", cfg, "mdn_rnn", data, train, model_kwargs={"components": 2},
                                name="MDN-RNN")}
    models, hists = S.train_models(jobs)
    assert list(models) == list(hists) == ["RNN", "MDN-RNN"]
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith("RNN ") and out[-1].startswith("MDN-RNN ") and "2 steps" in out[-1]
    direct = run_jobs([jobs["MDN-RNN"]], verbose=False)[0]
    for k, v in direct.state_dict.items():
        assert torch.equal(models["MDN-RNN"].state_dict()[k], v), k
    assert hists["MDN-RNN"].loss == direct.history.loss
    assert not models["RNN"].training
    started = []
    monkeypatch.setattr("aevae.jobs.run_jobs", lambda js, verbose=True: started.extend(j.name for j in js) or
                        [run_jobs([j], verbose=False)[0] for j in js])
    jobs["VRNN"] = TrainJob("vrnn", cfg, "vrnn_warmup", data, train, loss_kwargs={"steps": 2}, name="VRNN")
    models, _ = S.train_models(jobs, verbose=False, start_first=["MDN-RNN"])
    assert started == ["MDN-RNN", "VRNN", "RNN"] and list(models) == ["RNN", "MDN-RNN", "VRNN"]
    with pytest.raises(KeyError, match="start_first names \\['LSTM'\\]"):
        S.train_models(jobs, start_first=["LSTM"])
