"""benchmarks/run.py works (tiny workloads, no timing asserted: the figures are in the README)."""

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from aevae.models import VAE, NetConfig
from aevae.objectives import vae_loss

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("aevae_benchmarks", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def _tiny(bench, steps=3):
    x = torch.rand(64, 20)
    net = NetConfig(input_dim=20, hidden=(8,), latent_dim=2)
    return bench.Workload("tiny", "tiny VAE", lambda: VAE(net), vae_loss, lambda n: x[:n], steps, batch_size=8)


def test_both_loops_train_the_same_model_for_the_same_steps(bench):
    torch.manual_seed(0)
    template = VAE(NetConfig(input_dim=20, hidden=(8,), latent_dim=2))
    x = torch.rand(40, 20)
    for name, loop in bench.LOOPS.items():
        model = VAE(template.config)
        model.load_state_dict(template.state_dict())
        seconds, steps = loop(model, vae_loss, x, 8, 0)
        assert steps == 5 and seconds > 0, name
        moved = any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), template.state_dict().values()))
        assert moved, f"the {name} loop did not update the parameters"


def test_throughput_reports_both_loops_and_their_ratio(bench):
    r = bench.throughput(_tiny(bench), repeats=2, warmup_steps=1)
    assert set(r["images_per_second"]) == {"module", "dataloader"}
    assert all(len(v) == 2 for v in r["seconds"].values())
    ips = r["images_per_second"]
    assert r["ratio_module_over_dataloader"] == pytest.approx(ips["module"] / ips["dataloader"], rel=1e-2)
    assert "| tiny VAE | 8 × 3 |" in bench.throughput_markdown(
        {"machine": bench.machine(), "load_average_1m_after": 0.0, "models": {"tiny": r}})


def test_the_real_workloads_are_defined(bench):
    for make in (bench.mlp_vae, bench.chapter5_model, bench.linear_ae):
        try:
            work = make(2)
        except ImportError:  # chapter 6's module may not be in this checkout yet; the benchmark skips it
            assert make is bench.chapter5_model
            continue
        model = work.make_model()
        x = work.images(4)
        assert x.shape[1] == model.config.input_dim and x.dtype == torch.float32
        assert torch.isfinite(work.loss_fn(model, x, torch.Generator().manual_seed(0)))


def test_notebooks_are_executed_as_copies(bench, tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(nb, path)
    before = path.read_text()
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results")
    args = argparse.Namespace(notebooks=[str(path)], timeout=60, no_record=False, record_execution=False)
    out = bench.run_notebooks(args)
    assert path.read_text() == before, "the notebook itself must not be rewritten"
    stats = out["notebooks"]["99_tiny.ipynb"]
    assert stats["seconds"] > 0 and stats["peak_mib"] > 0
    assert not (tmp_path / "results" / "execution.json").exists(), "the appendix's record is written only on request"
    assert "| 99_tiny.ipynb |" in bench.notebooks_markdown(out)

    out = bench.run_notebooks(argparse.Namespace(**{**vars(args), "record_execution": True}))
    record = json.loads((tmp_path / "results" / "execution.json").read_text())
    assert record["notebooks"]["99_tiny.ipynb"] == out["notebooks"]["99_tiny.ipynb"]
    assert record["machine"]["cpus"] >= 1


def test_readme_blocks_are_replaced_in_place(bench, tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:notebooks -->\nold\n<!-- /bench:notebooks -->\nend\n")
    monkeypatch.setattr(bench, "README", readme)
    assert bench.update_readme("notebooks", "new table")
    assert readme.read_text() == "intro\n<!-- bench:notebooks -->\nnew table\n<!-- /bench:notebooks -->\nend\n"
    assert not bench.update_readme("throughput", "x")


# ------------------------------------------------------------------------------------------ speed
def test_train_step_flops_counts_six_in_out_batch_per_linear_layer(bench):
    model = VAE(NetConfig(input_dim=20, hidden=(8,), latent_dim=2))
    # encoder 20->8, head 8->2*2 (mu and logvar), decoder 2->8, 8->20; biases and activations not counted
    assert bench.linear_layers(model) == [(20, 8), (8, 4), (2, 8), (8, 20)]
    by_hand = 6 * 8 * (20 * 8 + 8 * 4 + 2 * 8 + 8 * 20)
    assert bench.train_step_flops(model, 8) == by_hand == 17_664
    assert bench.train_step_flops(model, 8, data_input_grad=False) == by_hand - 2 * 20 * 8 * 8
    # a module without weights adds nothing; the count is linear in the batch
    seq = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 7, bias=False))
    assert bench.train_step_flops(seq, 4) == 6 * 4 * (3 * 5 + 5 * 7) == 2 * bench.train_step_flops(seq, 2)
    with pytest.raises(ValueError, match="batch_size"):
        bench.train_step_flops(seq, 0)


def test_matmul_peak_is_a_positive_rate(bench):
    threads = torch.get_num_threads()
    peak = bench.matmul_peak(1, sizes=(32, 64), repeats=2, min_seconds=0.001)
    assert peak["gflops"] > 0 and peak["threads"] == 1 and set(peak["by_size"]) == {"32", "64"}
    assert peak["gflops"] == max(peak["by_size"].values())
    assert torch.get_num_threads() == threads, "the thread count must be restored"


def test_achieved_gflops_and_its_fraction_of_the_peak(bench):
    work = _tiny(bench)
    r = bench.achieved(work, batch_size=8, steps=4, repeats=2, threads=1, peak_gflops=10.0, warmup_steps=1)
    assert r["steps"] == 4 and len(r["seconds"]) == 2 and r["gflops"] > 0
    assert r["flops_per_step"] == 17_664 and r["flops_per_step_without_data_grad"] == 17_664 - 2 * 20 * 8 * 8
    assert r["fraction_of_peak"] == pytest.approx(r["gflops"] / 10.0, rel=1e-2)
    assert r["fraction_of_peak_without_data_grad"] < r["fraction_of_peak"]
    # more steps asked than the images allow: whole batches of what there is (64 images, 8 steps of 8)
    assert bench.achieved(work, 8, 100, 1, 1, warmup_steps=1)["steps"] == 8


def test_scaling_runs_tiny_jobs_both_ways(bench, monkeypatch):
    monkeypatch.setenv("AEVAE_CACHE", "off")
    monkeypatch.delenv("AEVAE_DASK_SCHEDULER", raising=False)
    jobs = bench.scaling_jobs(2, images=256, batch_size=64, net=NetConfig(input_dim=784, hidden=(16,), latent_dim=2))
    assert len({j.key() for j in jobs}) == 2 and all(j.data.first == 256 for j in jobs)
    threads = torch.get_num_threads()
    r = bench.scaling(jobs, workers=2, threads=1, repeats=1)
    assert torch.get_num_threads() == threads
    assert r["jobs"] == 2 and r["workers"] == 2 and r["steps_per_job"] == 4 and r["model"] == "MLP VAE 784-16-2"
    assert len(r["seconds"]["sequential"]) == len(r["seconds"]["jobs_warm"]) == 1
    assert r["speedup_cold"] > 0 and r["speedup_warm"] > 0  # what they are is the benchmark's business, not a test's
    record = {"machine": bench.machine(), "load_average_1m_after": 0.0,
              "peak": {"1": bench.matmul_peak(1, sizes=(32,), repeats=1, min_seconds=0.001)},
              "achieved": [bench.achieved(_tiny(bench), 8, 2, 1, 1, 5.0, warmup_steps=1)], "scaling": r}
    text = bench.speed_markdown(record)
    assert "| tiny VAE | 1 | 8 |" in text and "GFLOP/s** with 1 thread(s)" in text
    assert "2 trainings of the MLP VAE 784-16-2" in text and "target ≥ 1.5×" in text


# ---------------------------------------------------------------------------------------- quality
def _quality_record(budget=3.0):
    rows = []
    for kind, base in (("vae", 300.0), ("ae", 0.02)):
        for batch, lr, scale in ((128, 1e-3, 1.0), (512, 3e-3, 0.9)):
            rows.append({"kind": kind, "batch": batch, "lr": lr, "seconds": [1.5 * scale, 3.0 * scale],
                         "held_out": [base * 1.1 * scale, base * scale], "at_common_budget": base * scale,
                         "common_budget_seconds": budget})
    return {"date": "2026-01-01", "threads": 1, "rows": rows}


def test_quality_is_run_through_quality_py_and_tabled(bench, tmp_path, monkeypatch):
    calls = []

    class FakeQuality:
        @staticmethod
        def main(argv):
            calls.append(argv)
            out = Path(argv[argv.index("--out") + 1])
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(_quality_record()))
            return 0

    monkeypatch.setattr(bench, "_quality_module", lambda: FakeQuality)
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results")
    record = bench.run_quality(argparse.Namespace(no_record=False), ["--epochs", "1", "--kinds", "vae", "ae"])
    assert calls[-1][:4] == ["--epochs", "1", "--kinds", "vae"]
    assert calls[-1][-2:] == ["--out", str(tmp_path / "results" / "quality_per_second.json")]
    assert (tmp_path / "results" / "quality_per_second.json").is_file()
    assert record["rows"] == _quality_record()["rows"] and "machine" in record
    bench.run_quality(argparse.Namespace(no_record=True), ["--epochs", "1"])
    assert calls[-1][:2] == ["--epochs", "1"] and "results" not in calls[-1][3]
    text = bench.quality_markdown(record)
    assert "VAE, held-out −ELBO (nats per image)" in text and "AE, held-out MSE per pixel" in text
    assert "| 512 | 0.003 | 1.35 | **270** | 270 |" in text and "| 128 | 0.001 | 1.50 | 300 | 300 |" in text
    assert "after 3.0 s of training | after 2 epochs |" in text


def test_quality_py_arguments_follow_the_double_dash(bench):
    assert bench.split_passthrough(["--only", "quality", "--", "--epochs", "2"]) == (["--only", "quality"], ["--epochs", "2"])
    assert bench.split_passthrough(["--only", "speed"]) == (["--only", "speed"], [])
    with pytest.raises(SystemExit):
        bench.main(["--only", "speed", "--", "--epochs", "2"])  # quality.py's arguments without quality


def test_readme_update_keeps_the_other_blocks(bench, tmp_path, monkeypatch):
    blocks = {name: f"<!-- bench:{name} -->\nold {name}\n<!-- /bench:{name} -->" for name in bench.BENCHMARKS}
    text = "# Benchmarks\n\n" + "\n\nsome prose\n\n".join(blocks.values()) + "\n\nthe end\n"
    readme = tmp_path / "README.md"
    readme.write_text(text)
    monkeypatch.setattr(bench, "README", readme)
    assert bench.update_readme("speed", "| new | table |\n| --- | --- |")
    assert readme.read_text() == text.replace("old speed", "| new | table |\n| --- | --- |")
    assert bench.update_readme("quality", "q")
    after = readme.read_text()
    for name in ("throughput", "notebooks"):
        assert blocks[name] in after
    assert "<!-- bench:quality -->\nq\n<!-- /bench:quality -->" in after and after.endswith("the end\n")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"aevae_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_conv_shapes_exploration_runs_and_reports_each_checkpoint(tmp_path):
    conv = _load("conv_shapes")
    model = conv.ConvVAE(k=10, side=32)
    mu, logvar = model.encode(torch.rand(3, 1024))
    assert mu.shape == logvar.shape == (3, 10) and model.dec(mu).shape == (3, 1024)
    # the loss is the beta-weighted negative ELBO of aevae.objectives.vae_loss's form: beta = 0 leaves the NLL only
    x = torch.bernoulli(torch.rand(4, 1024), generator=torch.Generator().manual_seed(0))
    nll = conv.beta_elbo(model, x, 0.0, torch.Generator().manual_seed(1))
    full = conv.beta_elbo(model, x, 1.0, torch.Generator().manual_seed(1))
    assert full > nll > 0
    out = conv.main(["--arch", "conv", "--steps", "4", "--checkpoints", "2", "--n-train", "256", "--n-pool", "128",
                     "--clf-epochs", "1", "--batch", "32", "--out", str(tmp_path / "o.json")])
    assert [p["step"] for p in out["points"]] == [2, 4]
    assert json.loads((tmp_path / "o.json").read_text())["points"] == out["points"]
    for p in out["points"]:
        assert 0 <= p["mig"] <= 1 and p["recon_nats"] > 0 and set(p["acc_recon"]) == {"shape", "scale", "orientation"}
    with pytest.raises(SystemExit):
        conv.main(["--steps", "4", "--checkpoints", "9"])
