"""The job layer: the same numbers in this process, in joblib's worker processes and on a real Dask
cluster; a model cache that never loads a damaged entry; failures that name the job and keep the rest."""

import os
import signal
import threading
import time

import psutil
import pytest
import torch

from aevae import jobs as J
from aevae.models import NetConfig
from aevae.train import TrainConfig

TINY = NetConfig(input_dim=784, hidden=(32,), latent_dim=2)
DATA = J.DataSpec("fashion-mnist", first=512)
CFG = TrainConfig(epochs=2, batch_size=64, seed=3)


def tiny_jobs():
    return [J.TrainJob("vae", TINY, "vae", DATA, CFG, transform="binarize", name="vae"),
            J.TrainJob("ae", TINY, "ae", DATA, CFG, init_seed=1, name="ae"),
            J.TrainJob("vae", TINY, "vae", DATA, TrainConfig(epochs=1, batch_size=32, seed=5), loss_kwargs={"beta": 0.5},
                       transform="binarize", name="beta 0.5"),
            J.TrainJob("ae", TINY, "denoising", DATA, CFG, loss_kwargs={"std": 0.3}, name="dae")]


def same(a: list, b: list) -> bool:
    return all(x.state_dict.keys() == y.state_dict.keys()
               and all(torch.equal(x.state_dict[k], y.state_dict[k]) for k in x.state_dict)
               and x.history.loss == y.history.loss for x, y in zip(a, b, strict=True))


@pytest.fixture
def no_cache(monkeypatch):
    monkeypatch.setenv("AEVAE_CACHE", "off")
    monkeypatch.delenv("AEVAE_DASK_SCHEDULER", raising=False)


@pytest.fixture
def cache(monkeypatch, tmp_path):
    monkeypatch.setenv("AEVAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("AEVAE_DASK_SCHEDULER", raising=False)
    return tmp_path / "cache"


def test_a_job_is_a_plain_hashable_description():
    a, b = tiny_jobs()[0], tiny_jobs()[0]
    assert a == b and hash(a) == hash(b)
    assert J.TrainJob("vae", TINY, "vae", loss_kwargs={"beta": 2.0}) == J.TrainJob("vae", TINY, "vae", loss_kwargs=(("beta", 2.0),))
    assert a.key().name == "" and a.key() == J.TrainJob("vae", TINY, "vae", DATA, CFG, transform="binarize")
    with pytest.raises(ValueError, match="model 'mlp' is not one of"):
        J.TrainJob("mlp", TINY, "vae")
    with pytest.raises(ValueError, match="loss 'elbo' is not one of"):
        J.TrainJob("vae", TINY, "elbo")
    with pytest.raises(ValueError, match="unknown data set 'mnist'"):
        J.DataSpec("mnist")
    with pytest.raises(ValueError, match="init_seed"):
        J.TrainJob("vae", TINY, "vae", init_seed=-1)
    with pytest.raises(TypeError, match=r"jobs\[1\] must be a TrainJob"):
        J.run_jobs([a, "vae"], cache=False)


def test_a_job_trains_like_fit_with_the_same_seeds(no_cache):
    from aevae.data import binarize
    from aevae.models import VAE
    from aevae.objectives import vae_loss
    from aevae.train import fit

    job = tiny_jobs()[0]
    torch.manual_seed(job.init_seed)
    model = VAE(TINY)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        hist = fit(model, vae_loss, DATA.load(), CFG, transform=binarize)
    finally:
        torch.set_num_threads(threads)
    result = J.run_jobs([job], n_jobs=1)[0]
    assert hist.loss == result.history.loss
    assert all(torch.equal(v, result.state_dict[k]) for k, v in model.state_dict().items())
    assert torch.get_num_threads() == threads, "the thread count is restored"
    restored = result.model()
    assert not restored.training and all(torch.equal(v, result.state_dict[k]) for k, v in restored.state_dict().items())


def test_joblib_workers_and_a_dask_cluster_give_bit_identical_results(no_cache):
    distributed = pytest.importorskip("dask.distributed")
    jobs = tiny_jobs()
    here = J.run_jobs(jobs, n_jobs=1)
    assert same(here, J.run_jobs(jobs, n_jobs=2)), "joblib's worker processes changed a number"
    assert same(here, J.run_jobs(jobs, n_jobs=3)), "another worker count changed a number"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  scheduler_port=0) as cluster:
        on_dask = J.run_jobs(jobs, scheduler=cluster.scheduler_address)
    assert same(here, on_dask), "the Dask cluster changed a number"


def test_the_cache_returns_the_same_model_and_retrains_a_damaged_entry(cache):
    jobs = tiny_jobs()[:2]
    first = J.run_jobs(jobs, n_jobs=1)
    assert not any(r.cached for r in first)
    again = J.run_jobs(jobs, n_jobs=2)
    assert all(r.cached for r in again) and same(first, again)
    renamed = J.run_jobs([J.TrainJob(**{**jobs[0].__dict__, "name": "another label"})], n_jobs=1)
    assert renamed[0].cached, "the label is not part of the key"
    outputs = sorted(cache.rglob("output.pkl"))
    assert len(outputs) == 2
    # damage both entries: truncate one, flip a byte in the middle of the other
    raw = outputs[0].read_bytes()
    outputs[0].write_bytes(raw[: len(raw) // 2])
    raw = bytearray(outputs[1].read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    outputs[1].write_bytes(bytes(raw))
    repaired = J.run_jobs(jobs, n_jobs=1)
    assert not any(r.cached for r in repaired), "a damaged entry must be retrained, never used"
    assert same(first, repaired)
    assert all(r.cached for r in J.run_jobs(jobs, n_jobs=1)), "the retrained entries are stored again"


def test_a_code_change_is_a_different_key(cache, monkeypatch):
    job = tiny_jobs()[1]
    J.run_jobs([job], n_jobs=1)
    monkeypatch.setattr(J, "source_digest", lambda: "another version of the module")
    assert not J.run_jobs([job], n_jobs=1)[0].cached


def test_a_non_finite_loss_on_a_worker_names_the_job_and_keeps_the_others(cache):
    bad = J.TrainJob("vae", TINY, "vae", DATA, TrainConfig(epochs=3, batch_size=64, lr=1e12, seed=0),
                     transform="binarize", name="exploding")
    good = tiny_jobs()[1]
    with pytest.raises(J.JobError) as err:
        J.run_jobs([good, bad], n_jobs=2)
    message = str(err.value)
    assert "job 1 failed: non-finite loss" in message and "'exploding'" in message and "lr=1000000000000.0" in message
    assert err.value.job == bad
    assert len(err.value.finished) == 1 and err.value.finished[0].job == good
    assert J.run_jobs([good], n_jobs=1)[0].cached, "the finished job's model is in the cache"


def test_a_killed_worker_stops_the_sweep_with_the_job_named(cache):
    quick = tiny_jobs()[1]
    J.run_jobs([quick], n_jobs=1)  # finished before the sweep: it must survive the dead worker

    def slow(name, seed):
        return J.TrainJob("vae", TINY, "vae", J.DataSpec("fashion-mnist", first=20000),
                          TrainConfig(epochs=30, batch_size=64, seed=seed), transform="binarize", name=name)
    box = {}

    def sweep():
        try:
            J.run_jobs([quick, slow("killed", 0), slow("killed too", 1)], n_jobs=2)
        except Exception as e:  # noqa: BLE001
            box["error"] = e

    thread = threading.Thread(target=sweep)
    thread.start()
    deadline = time.time() + 60
    killed = False
    while time.time() < deadline and not killed:
        time.sleep(0.5)
        for child in psutil.Process().children(recursive=True):
            try:
                busy = child.cpu_percent(interval=0.2) > 50
            except psutil.Error:
                continue
            if busy:
                os.kill(child.pid, signal.SIGKILL)
                killed = True
                break
    thread.join(timeout=120)
    assert killed, "no busy worker process was found to kill"
    error = box.get("error")
    assert isinstance(error, J.JobError), f"expected a JobError, got {error!r}"
    assert "'killed'" in str(error) and "stopped before this job finished" in str(error)
    assert [r.job for r in error.finished] == [quick], "the job finished before the worker died is kept"
