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
        except ImportError:  # chapter 5's module may not be in this checkout yet; the benchmark skips it
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
