"""The book's benchmarks: training throughput, training speed against the machine's peak, the speed-up of
trainings run as jobs, quality per second, and the time and peak memory of every notebook.

    python benchmarks/run.py                       # all of them (what `make bench` runs)
    python benchmarks/run.py --only throughput     # about a minute and a half on 2 cores
    python benchmarks/run.py --only speed          # matmul peak, achieved GFLOP/s, jobs' speed-up
    python benchmarks/run.py --only quality        # benchmarks/quality.py; its arguments after `--`
    python benchmarks/run.py --only notebooks      # every notebook of _toc.yml, from scratch
    python benchmarks/run.py --only speed quality -- --epochs 4   # several; quality.py gets `--epochs 4`

**Throughput.** The module's training loop (:func:`aevae.train.fit`: the data set held as one tensor,
a seeded permutation per epoch, slices of it) against the loop of pytorch/examples (``vae/main.py``):
a ``DataLoader(TensorDataset(x), batch_size, shuffle=True)`` and the same zero_grad / loss / backward /
``loss.item()`` / step. Both train copies of the same initialised model with Adam on the same loss,
batch size and number of steps, on the same images; the rounds alternate which loop goes first, and
the medians of the rounds are compared. Reported: images per second of each loop and their ratio, for
the MLP VAE of chapters 3-4 (:func:`aevae.config.book_net`) and for chapter 6's model (see
:func:`chapter5_model`).

**Speed.** (1) The machine's fp32 matrix-multiply peak (:func:`matmul_peak`: square ``torch.mm`` of a
few sizes, best of several repeats, 2 n^3 FLOPs each) at the book's thread count
(:func:`aevae.book.book_threads`) and at 1 thread (the job layer trains on one thread per job).
(2) The training loop's achieved GFLOP/s on each throughput model at batch 128 and 512
(:func:`achieved`: FLOPs per step counted by :func:`train_step_flops` from the model's ``nn.Linear``
layers, divided by the median time of :func:`aevae.train.fit` over a fixed number of steps) and its
fraction of the peak at the same thread count. (3) The speed-up of N independent trainings run by
:func:`aevae.jobs.run_jobs` on 2 worker processes over the same N trainings one after another in this
process with the book's threads (:func:`scaling`), both timed end to end; "cold" is the first call (the
workers start: interpreter, torch and the data are loaded), "warm" a later one (the workers are running).

**Quality per second.** ``benchmarks/quality.py`` (its ``main``, with the arguments after ``--``): the
held-out objective reached in a fixed training time by several batch sizes and learning rates; it writes
``results/quality_per_second.json``, whose table goes into the README.

**Notebooks.** Each notebook listed in ``_toc.yml`` is executed from scratch, top to bottom, in one fresh
kernel, by ``tools/execute.py``'s own ``execute`` (which polls the kernel's resident memory), on *copies*
in a temporary folder laid out like the book, so the committed notebooks, their outputs and
``results/*.json`` are left as they are. ``make book`` records the same two figures for the appendix
"Reproducing this book" in ``results/execution.json`` while it executes the chapters in place; this
benchmark does not overwrite that file unless asked (``--record-execution``), because the appendix's
stored outputs show it and would then be stale until the appendix is executed again.

Figures go to ``results/benchmarks.json`` and into the tables of README.md's "Benchmarks" section
(between ``<!-- bench:... -->`` markers), and are printed as Markdown tables. The machine's
load average is recorded with them: on a shared machine every timing is inflated by the load.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
sys.path.insert(0, str(ROOT / "tests"))  # browser_support.toc_docnames: the pages of _toc.yml

os.environ.setdefault("AEVAE_PROGRESS", "0")
os.environ.setdefault("PYTHONHASHSEED", "0")

import torch  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from aevae.models import VAE, NetConfig  # noqa: E402
from aevae.objectives import vae_loss  # noqa: E402
from aevae.train import TrainConfig, fit  # noqa: E402


# ------------------------------------------------------------------------------------------ models
@dataclass
class Workload:
    name: str
    description: str
    make_model: Callable[[], torch.nn.Module]
    loss_fn: Callable  # loss_fn(model, batch, generator) -> scalar, as aevae.train.fit takes it
    images: Callable[[int], torch.Tensor]  # n -> (n, D) float32 training images
    steps: int
    batch_size: int = 128


def mlp_vae(steps: int) -> Workload:
    """The MLP VAE of chapters 3-4 (784-512-256-16, Bernoulli decoder) on Fashion-MNIST."""
    from aevae.config import book_net
    from aevae.data import load_fashion_mnist

    def images(n: int) -> torch.Tensor:
        return load_fashion_mnist("train").images[:n]

    net = book_net(16)
    return Workload("mlp_vae", f"MLP VAE {net.input_dim}-{'-'.join(map(str, net.hidden))}-{net.latent_dim}, "
                    "Fashion-MNIST", lambda: VAE(net), vae_loss, images, steps)


def linear_ae(steps: int) -> Workload:
    """Chapter 2's linear AE (784-16-784, no hidden layer): so little compute per step that the data
    pipeline's share of the time shows."""
    from aevae.data import load_fashion_mnist
    from aevae.models import Autoencoder
    from aevae.objectives import ae_loss

    net = NetConfig(input_dim=784, hidden=(), latent_dim=16, activation="identity", output="identity")
    return Workload("linear_ae", "linear AE 784-16-784, Fashion-MNIST", lambda: Autoencoder(net), ae_loss,
                    lambda n: load_fashion_mnist("train").images[:n], steps)


def chapter5_model(steps: int) -> Workload:
    """Chapter 6's model: a beta-VAE on dSprites-style shapes (:mod:`aevae.shapes`), with the chapter's
    own configuration from :mod:`aevae.config` (32 x 32 shapes, MLP 1024-256-256-10, batch 128) and
    objective (:func:`aevae.disentangle.beta_vae_objective`; the cost is the same for every beta)."""
    from aevae.config import SHAPES_NET, SHAPES_RESOLUTION, SHAPES_TRAIN
    from aevae.disentangle import beta_vae_objective
    from aevae.shapes import ShapesGrid

    grid = ShapesGrid(resolution=SHAPES_RESOLUTION)
    net, beta = SHAPES_NET, 4

    def images(n: int) -> torch.Tensor:
        return grid.sample(n, torch.Generator().manual_seed(0))[0]

    return Workload("chapter5", f"beta-VAE (beta={beta:g}) MLP {net.input_dim}-{'-'.join(map(str, net.hidden))}-"
                    f"{net.latent_dim}, {SHAPES_RESOLUTION}x{SHAPES_RESOLUTION} shapes", lambda: VAE(net),
                    beta_vae_objective(beta), images, steps, batch_size=SHAPES_TRAIN.batch_size)


# ---------------------------------------------------------------------------------- the two loops
def module_loop(model, loss_fn, x, batch_size: int, seed: int) -> tuple[float, int]:
    """aevae.train.fit for one epoch over ``x`` (len(x) / batch_size steps). Returns (seconds, steps)."""
    hist = fit(model, loss_fn, x, TrainConfig(epochs=1, batch_size=batch_size, lr=1e-3, seed=seed))
    return hist.seconds, hist.steps


def examples_loop(model, loss_fn, x, batch_size: int, seed: int) -> tuple[float, int]:
    """The training loop of pytorch/examples (vae/main.py), over a DataLoader of a TensorDataset."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    loader = DataLoader(TensorDataset(x), batch_size=batch_size, shuffle=True, generator=gen)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    start = time.perf_counter()
    train_loss, steps = 0.0, 0
    for (data,) in loader:
        data = data.to("cpu")
        optimizer.zero_grad()
        loss = loss_fn(model, data, gen)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
        steps += 1
    seconds = time.perf_counter() - start
    model.eval()
    return seconds, steps


LOOPS = {"module": module_loop, "dataloader": examples_loop}


def throughput(work: Workload, repeats: int, warmup_steps: int = 10) -> dict:
    """Images per second of both loops on ``work``: the median of ``repeats`` alternating rounds."""
    x = work.images(work.steps * work.batch_size).contiguous()
    torch.manual_seed(0)
    template = work.make_model()
    warm = x[: warmup_steps * work.batch_size]
    for loop in LOOPS.values():  # first-call overheads (allocator, kernels) out of the timings
        loop(copy.deepcopy(template), work.loss_fn, warm, work.batch_size, 0)
    seconds: dict[str, list[float]] = {k: [] for k in LOOPS}
    for r in range(repeats):
        order = list(LOOPS) if r % 2 == 0 else list(reversed(LOOPS))
        for name in order:
            s, steps = LOOPS[name](copy.deepcopy(template), work.loss_fn, x, work.batch_size, r)
            if steps != work.steps:
                raise RuntimeError(f"{name} loop ran {steps} steps, not {work.steps}")
            seconds[name].append(s)
    images = work.steps * work.batch_size
    ips = {k: images / statistics.median(v) for k, v in seconds.items()}
    per_round = [m / d for m, d in zip(seconds["dataloader"], seconds["module"])]
    return {
        "model": work.description,
        "parameters": sum(p.numel() for p in template.parameters()),
        "batch_size": work.batch_size,
        "steps": work.steps,
        "repeats": repeats,
        "seconds": {k: [round(s, 3) for s in v] for k, v in seconds.items()},
        "images_per_second": {k: round(v, 1) for k, v in ips.items()},
        "ratio_module_over_dataloader": round(ips["module"] / ips["dataloader"], 3),
        "ratio_range_over_rounds": [round(min(per_round), 3), round(max(per_round), 3)],
    }


def machine() -> dict:
    """tools/execute.py's description of the machine, with the minute and the load average added."""
    return {**_execute_module().machine(), "load_average_1m": round(os.getloadavg()[0], 2),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def run_throughput(args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    works, rows = [], {}
    for make, steps in ((mlp_vae, args.steps), (chapter5_model, args.steps_chapter5), (linear_ae, args.steps)):
        try:
            works.append(make(steps))
        except ImportError as err:  # a chapter's module not in this checkout yet
            print(f"throughput: {make.__name__} skipped ({err})", flush=True)
            rows[make.__name__.removesuffix("_model")] = {"model": make.__name__, "skipped": str(err)}
    before = machine()
    for work in works:
        print(f"throughput: {work.description}, {work.steps} steps of {work.batch_size}, "
              f"{args.repeats} rounds …", flush=True)
        rows[work.name] = throughput(work, args.repeats)
        r = rows[work.name]
        print(f"  module {r['images_per_second']['module']:9.0f} img/s   dataloader "
              f"{r['images_per_second']['dataloader']:9.0f} img/s   ratio {r['ratio_module_over_dataloader']:.2f}",
              flush=True)
    order = ["mlp_vae", "chapter5", "linear_ae"]
    rows = {k: rows[k] for k in sorted(rows, key=lambda k: order.index(k) if k in order else len(order))}
    return {"machine": before, "load_average_1m_after": round(os.getloadavg()[0], 2), "models": rows}


# ------------------------------------------------------------------------------------------ speed
def _sig(x: float, digits: int = 4) -> float:
    """``x`` rounded to ``digits`` significant digits (tiny test workloads run at a few MFLOP/s)."""
    return float(f"{x:.{digits}g}")


@contextlib.contextmanager
def torch_threads(n: int):
    """torch's intra-op threads set to ``n`` inside the block, restored after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def linear_layers(model: torch.nn.Module) -> list[tuple[int, int]]:
    """(in_features, out_features) of every ``nn.Linear`` in ``model``, in module order."""
    return [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, torch.nn.Linear)]


def train_step_flops(model: torch.nn.Module, batch_size: int, data_input_grad: bool = True) -> int:
    """Floating-point operations of one training step in ``model``'s ``nn.Linear`` layers, counted
    analytically (a multiply-add is 2 FLOPs).

    A layer of ``in x out`` weights on a batch of ``B`` rows: forward ``2*in*out*B`` (its matmul); backward
    twice that (the gradient of its input and of its weight, ``2*in*out*B`` each): ``6*in*out*B`` per layer
    per step. With ``data_input_grad=False`` the first layer in module order (the one the data enters, for
    the book's MLPs) is counted ``4*in*out*B``: autograd does not compute the gradient of the data, so
    this is closer to the work actually done (for the MLP VAE 784-512-256-16 the default counts 14% more).

    Left out: bias additions and their gradients (``B*out`` each), the activations (ReLU, sigmoid), the
    loss (reparameterisation, Bernoulli log-likelihood or MSE, KL, means), Adam's update (about 15 FLOPs
    per parameter per step, independent of ``B``), the data's slicing and transform (binarization). It
    assumes that every ``nn.Linear`` is applied once per step to ``B`` rows, which holds for the book's
    MLP AEs and VAEs (one z per image), not for a recurrent model applied at every time step.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    layers = linear_layers(model)
    flops = sum(6 * i * o * batch_size for i, o in layers)
    if layers and not data_input_grad:
        i, o = layers[0]
        flops -= 2 * i * o * batch_size
    return flops


def matmul_peak(threads: int, sizes=(512, 1024, 2048), repeats: int = 5, min_seconds: float = 0.05) -> dict:
    """The fp32 matrix-multiply peak of this machine with ``threads`` torch threads, in GFLOP/s.

    For each size n: ``torch.mm`` of two (n, n) float32 matrices into a preallocated output, 2 n^3 FLOPs,
    once to warm up, once to size the timed loop, then ``repeats`` timings of a loop of as many products
    as fill ``min_seconds``; the best timing counts. The peak is the best over the sizes (``by_size``).
    """
    by_size = {}
    with torch_threads(threads):
        gen = torch.Generator().manual_seed(0)
        for n in sizes:
            a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
            out = torch.empty(n, n)
            torch.mm(a, b, out=out)  # warm-up
            start = time.perf_counter()
            torch.mm(a, b, out=out)
            inner = max(1, math.ceil(min_seconds / max(time.perf_counter() - start, 1e-9)))
            best = math.inf
            for _ in range(repeats):
                start = time.perf_counter()
                for _ in range(inner):
                    torch.mm(a, b, out=out)
                best = min(best, (time.perf_counter() - start) / inner)
            by_size[str(n)] = _sig(2 * n**3 / best / 1e9)
    return {"threads": threads, "gflops": max(by_size.values()), "by_size": by_size, "repeats": repeats}


def achieved(work: Workload, batch_size: int, steps: int, repeats: int, threads: int,
             peak_gflops: float | None = None, warmup_steps: int = 5) -> dict:
    """The training loop's (:func:`aevae.train.fit`) achieved GFLOP/s on ``work`` at ``batch_size``.

    ``steps`` steps over ``steps * batch_size`` of the workload's images (fewer if it has fewer: whole
    batches only), timed ``repeats`` times with ``threads`` torch threads on copies of one initialised
    model after a short warm-up; FLOPs from :func:`train_step_flops`; the median time counts. With
    ``peak_gflops`` (the matmul peak at the same thread count) the fraction of it is given.
    """
    x = work.images(steps * batch_size)
    steps = min(steps, x.shape[0] // batch_size)
    if steps < 1:
        raise ValueError(f"{work.name}: fewer images than one batch of {batch_size}.")
    x = x[: steps * batch_size].contiguous()
    with torch_threads(threads):
        torch.manual_seed(0)
        template = work.make_model()
        module_loop(copy.deepcopy(template), work.loss_fn, x[: warmup_steps * batch_size], batch_size, 0)
        seconds = []
        for r in range(repeats):
            s, done = module_loop(copy.deepcopy(template), work.loss_fn, x, batch_size, r)
            if done != steps:
                raise RuntimeError(f"{work.name}: the loop ran {done} steps, not {steps}")
            seconds.append(s)
    per_step, exact = train_step_flops(template, batch_size), train_step_flops(template, batch_size, False)
    gflops = per_step * steps / statistics.median(seconds) / 1e9
    row = {
        "model": work.description, "threads": threads, "batch_size": batch_size, "steps": steps,
        "repeats": repeats, "seconds": [round(s, 3) for s in seconds],
        "flops_per_step": per_step, "flops_per_step_without_data_grad": exact,
        "images_per_second": round(steps * batch_size / statistics.median(seconds), 1),
        "gflops": _sig(gflops),
    }
    if peak_gflops:
        row["peak_gflops"] = peak_gflops
        row["fraction_of_peak"] = _sig(gflops / peak_gflops)
        row["fraction_of_peak_without_data_grad"] = _sig(gflops * exact / per_step / peak_gflops)
    return row


def scaling_jobs(n: int, images: int | None = 60_000, epochs: int = 1, batch_size: int = 128,
                 net: NetConfig | None = None) -> list:
    """``n`` independent trainings of the MLP VAE of chapters 3-4 (or ``net``) as chapter 4 trains it
    (Bernoulli decoder, dynamic binarization, Adam 1e-3), on the first ``images`` training images of
    Fashion-MNIST for ``epochs``; each its own seeds (``init_seed`` and ``train.seed`` = its index)."""
    from aevae.config import book_net
    from aevae.jobs import DataSpec, TrainJob

    net = net or book_net(16)
    data = DataSpec("fashion-mnist", first=images)
    return [TrainJob("vae", net, "vae", data, TrainConfig(epochs=epochs, batch_size=batch_size, lr=1e-3, seed=i),
                     init_seed=i, transform="binarize", name=f"scaling {i}") for i in range(n)]


def train_in_process(job) -> float:
    """``job`` trained with plain :func:`aevae.train.fit` in this process, at this process's threads (what
    :func:`aevae.jobs.run_job` does, without setting one thread). Returns its final training loss."""
    from aevae.jobs import LOSSES, TRANSFORMS

    model = job.build()
    transform = TRANSFORMS[job.transform]() if job.transform else None
    hist = fit(model, LOSSES[job.loss](**dict(job.loss_kwargs)), job.data.load(), job.train, device="cpu",
               transform=transform, desc=job.name or job.model)
    return hist.loss[-1]


def _stop_workers() -> None:
    """Shut joblib's reusable loky workers down, so that the next ``run_jobs`` starts them (a cold call)."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def scaling(jobs: list, workers: int = 2, threads: int | None = None, repeats: int = 1) -> dict:
    """Seconds of ``jobs`` trained one after another in this process with ``threads`` torch threads (default
    the book's) against ``aevae.jobs.run_jobs(jobs, n_jobs=workers, cache=False)`` (one thread per job),
    both end to end (data loading and model building included). The jobs' run is timed cold, the first call
    after the workers were stopped (so it includes starting them), and warm, later calls with the workers
    running; sequential and warm take the median of ``repeats``. Nothing is asserted about the times."""
    from aevae.book import book_threads
    from aevae.jobs import run_jobs

    threads = threads or book_threads()
    sequential = []
    with torch_threads(threads):
        for _ in range(repeats):
            start = time.perf_counter()
            for job in jobs:
                train_in_process(job)
            sequential.append(time.perf_counter() - start)
    _stop_workers()
    start = time.perf_counter()
    results = run_jobs(jobs, n_jobs=workers, cache=False)
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_jobs(jobs, n_jobs=workers, cache=False)
        warm.append(time.perf_counter() - start)
    seq, hot = statistics.median(sequential), statistics.median(warm)
    job = jobs[0]
    return {
        "jobs": len(jobs), "workers": workers, "threads_sequential": threads, "threads_per_job": 1,
        "model": "MLP VAE " + "-".join(map(str, (job.config.input_dim, *job.config.hidden, job.config.latent_dim))),
        "images": job.data.first, "epochs": job.train.epochs, "batch_size": job.train.batch_size,
        "steps_per_job": results[0].history.steps, "repeats": repeats,
        "seconds": {"sequential": [round(s, 2) for s in sequential], "jobs_cold": round(cold, 2),
                    "jobs_warm": [round(s, 2) for s in warm]},
        "speedup_cold": round(seq / cold, 3), "speedup_warm": round(seq / hot, 3),
    }


def run_speed(args) -> dict:
    from aevae.book import book_threads

    thread_counts = list(dict.fromkeys(args.speed_threads or [book_threads(), 1]))
    before = machine()
    peaks = {}
    for t in thread_counts:
        print(f"speed: fp32 matmul peak, {t} thread(s), n = {', '.join(map(str, args.peak_sizes))} …", flush=True)
        peaks[str(t)] = matmul_peak(t, args.peak_sizes, args.peak_repeats)
        print(f"  {peaks[str(t)]['gflops']:8.1f} GFLOP/s   by size {peaks[str(t)]['by_size']}", flush=True)
    rows = []
    for make in (mlp_vae, chapter5_model, linear_ae):
        try:
            work = make(args.speed_steps)
        except ImportError as err:
            print(f"speed: {make.__name__} skipped ({err})", flush=True)
            continue
        for batch in args.speed_batches:
            for t in thread_counts:
                r = achieved(work, batch, args.speed_steps, args.repeats, t, peaks[str(t)]["gflops"])
                rows.append(r)
                print(f"  {work.description}, batch {batch}, {t} thread(s): {r['gflops']:7.1f} GFLOP/s = "
                      f"{r['fraction_of_peak']:.0%} of peak", flush=True)
    scale = None
    if args.scaling_jobs:
        jobs = scaling_jobs(args.scaling_jobs, args.scaling_images or None, args.scaling_epochs, args.scaling_batch)
        print(f"speed: {len(jobs)} trainings, in one process with {book_threads()} threads and on "
              f"{args.scaling_workers} workers …", flush=True)
        scale = scaling(jobs, args.scaling_workers, book_threads(), args.scaling_repeats)
        sec = scale["seconds"]
        print(f"  one process {statistics.median(sec['sequential']):.1f} s   jobs cold {sec['jobs_cold']:.1f} s "
              f"({scale['speedup_cold']:.2f}x)   warm {statistics.median(sec['jobs_warm']):.1f} s "
              f"({scale['speedup_warm']:.2f}x)", flush=True)
    return {"machine": before, "load_average_1m_after": round(os.getloadavg()[0], 2), "peak": peaks,
            "achieved": rows, "scaling": scale}


# ---------------------------------------------------------------------------------------- quality
def _quality_module():
    spec = importlib.util.spec_from_file_location("aevae_quality", ROOT / "benchmarks" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_quality(args, passthrough: list[str]) -> dict:
    """``benchmarks/quality.py``'s ``main(passthrough)``; its JSON, read back, with the machine added. Its
    ``--out`` defaults to results/quality_per_second.json (a temporary file under ``--no-record``)."""
    argv = list(passthrough)
    picker = argparse.ArgumentParser(add_help=False)
    picker.add_argument("--out", type=Path)
    given = picker.parse_known_args(argv)[0].out
    with contextlib.ExitStack() as stack:
        if given is not None:
            out = given
        elif args.no_record:
            out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aevae-quality-"))) / "quality.json"
            argv += ["--out", str(out)]
        else:
            out = RESULTS / "quality_per_second.json"
            argv += ["--out", str(out)]
        before = machine()
        print(f"quality: benchmarks/quality.py {' '.join(argv)} …", flush=True)
        with torch_threads(torch.get_num_threads()):  # quality.py sets one thread
            code = _quality_module().main(argv)
        if code:
            raise RuntimeError(f"benchmarks/quality.py exited with {code}")
        record = json.loads(Path(out).read_text())
    return {"machine": before, "load_average_1m_after": round(os.getloadavg()[0], 2),
            "file": str(out.relative_to(ROOT)) if out.is_absolute() and out.is_relative_to(ROOT) else str(out),
            **record}


# ------------------------------------------------------------------------------------- notebooks
def _execute_module():
    spec = importlib.util.spec_from_file_location("aevae_execute", ROOT / "tools" / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def toc_notebooks() -> list[Path]:
    from browser_support import toc_docnames

    return [ROOT / f"{d}.ipynb" for d in toc_docnames(ROOT) if (ROOT / f"{d}.ipynb").is_file()]


def run_notebooks(args) -> dict:
    """Execute copies of the notebooks in a sandbox laid out like the book (its _config.yml, _toc.yml and
    a copy of results/), one fresh kernel each; their time and peak memory, and with
    ``args.record_execution`` also in results/execution.json."""
    exe = _execute_module()
    notebooks = [Path(p).resolve() for p in args.notebooks] if args.notebooks else toc_notebooks()
    record_path = RESULTS / "execution.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {"notebooks": {}}
    rows = {}
    with tempfile.TemporaryDirectory(prefix="aevae-bench-") as tmp:
        sandbox = Path(tmp)
        for name in ("_config.yml", "_toc.yml"):
            shutil.copy2(ROOT / name, sandbox / name)
        if RESULTS.is_dir():
            shutil.copytree(RESULTS, sandbox / "results")
        (sandbox / "results").mkdir(exist_ok=True)
        for nb in notebooks:
            target = sandbox / (nb.relative_to(ROOT) if nb.is_relative_to(ROOT) else Path("chapters") / nb.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(nb, target)
            # The appendix reads ../results/execution.json: give it the record so far, this run's included.
            (sandbox / "results" / "execution.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
            print(f"executing a copy of {nb.name} …", flush=True)
            stats = exe.execute(target, args.timeout)
            print(f"  {stats['seconds']:8.1f} s   peak {stats['peak_mib']:8.1f} MiB", flush=True)
            rows[nb.name] = stats
            record["notebooks"][nb.name] = stats
            record["machine"] = exe.machine()
            if args.record_execution and not args.no_record:
                record_path.parent.mkdir(exist_ok=True)
                record_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return {"notebooks": rows, "machine": exe.machine(), "load_average_1m_after": round(os.getloadavg()[0], 2)}


# ---------------------------------------------------------------------------------------- report
README = ROOT / "README.md"


def throughput_markdown(record: dict) -> str:
    m = record["machine"]
    lines = [f"Training throughput, {m['date']}: {m['cpus']} CPUs, torch {m['torch']} with "
             f"{m['torch_threads']} thread(s), load average {m['load_average_1m']} before and "
             f"{record['load_average_1m_after']} after. Ratio = module loop / DataLoader loop (median of the "
             "rounds; in brackets the range over rounds).", "",
             "| model | batch × steps | module loop (img/s) | DataLoader loop (img/s) | ratio |",
             "| --- | --- | ---: | ---: | ---: |"]
    for r in record["models"].values():
        if "skipped" in r:
            lines.append(f"| {r['model']} | not measured: {r['skipped']} | | | |")
            continue
        lo, hi = r["ratio_range_over_rounds"]
        lines.append(f"| {r['model']} | {r['batch_size']} × {r['steps']} | {r['images_per_second']['module']:,.0f} | "
                     f"{r['images_per_second']['dataloader']:,.0f} | {r['ratio_module_over_dataloader']:.2f} "
                     f"({lo:.2f}–{hi:.2f}) |")
    return "\n".join(lines)


def notebooks_markdown(record: dict, load_after: float | None = None) -> str:
    m = record.get("machine", {})
    load = f", load average {load_after} at the end" if load_after is not None else ""
    lines = [f"Notebooks, each from scratch in a fresh kernel ({m.get('date', '?')}, {m.get('cpus', '?')} CPUs{load}):",
             "", "| notebook | wall time (s) | peak memory (MiB) |", "| --- | ---: | ---: |"]
    total = 0.0
    for name, st in record["notebooks"].items():
        lines.append(f"| {name} | {st['seconds']:.1f} | {st['peak_mib']:,.0f} |")
        total += st["seconds"]
    lines.append(f"| total | {total:.1f} | |")
    return "\n".join(lines)


def speed_markdown(record: dict) -> str:
    m, peak = record["machine"], record["peak"]
    sizes = ", ".join(next(iter(peak.values()))["by_size"]) if peak else "?"
    lines = [f"Speed, {m['date']}: {m['cpus']} CPUs, torch {m['torch']}, load average {m['load_average_1m']} before "
             f"and {record['load_average_1m_after']} after.", "",
             "fp32 matrix-multiply peak (`torch.mm`, n × n, n = " + sizes + ", best of "
             f"{next(iter(peak.values()))['repeats'] if peak else '?'} repeats): "
             + ", ".join(f"**{p['gflops']:,.1f} GFLOP/s** with {t} thread(s)" for t, p in peak.items()) + "."]
    if record["achieved"]:
        lines += ["", "| model | threads | batch | GFLOP per step | achieved (GFLOP/s) | of peak |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in record["achieved"]:
            lines.append(f"| {r['model']} | {r['threads']} | {r['batch_size']} | {r['flops_per_step'] / 1e9:.3g} | "
                         f"{r['gflops']:,.1f} | {r['fraction_of_peak']:.0%} |")
    sc = record.get("scaling")
    if sc:
        sec = sc["seconds"]
        seq, warm = statistics.median(sec["sequential"]), statistics.median(sec["jobs_warm"])
        images = f"the first {sc['images']:,} training images" if sc["images"] else "the training images"
        lines += ["", f"Jobs: {sc['jobs']} trainings of the {sc['model']} ({sc['epochs']} epoch(s) over {images}, "
                  f"batch {sc['batch_size']}, {sc['steps_per_job']} steps each): one after another in one process "
                  f"with {sc['threads_sequential']} threads **{seq:.1f} s**; `run_jobs` on {sc['workers']} workers, "
                  f"one thread each, **{sec['jobs_cold']:.1f} s** cold (the call starts the workers) and "
                  f"**{warm:.1f} s** warm: a speed-up of **{sc['speedup_cold']:.2f}×** cold and "
                  f"**{sc['speedup_warm']:.2f}×** warm (target ≥ 1.5×)."]
    return "\n".join(lines)


def quality_markdown(record: dict) -> str:
    m = record.get("machine", {})
    rows = record["rows"]
    lines = [f"Quality per second, {m.get('date', record.get('date', '?'))}: {m.get('cpus', '?')} CPUs, "
             f"{record.get('threads', 1)} thread per training, load average {m.get('load_average_1m', '?')} before "
             f"and {record.get('load_average_1m_after', '?')} after."]
    units = {"vae": "held-out −ELBO (nats per image)", "ae": "held-out MSE per pixel"}
    for kind in dict.fromkeys(r["kind"] for r in rows):
        mine = [r for r in rows if r["kind"] == kind]
        budget = mine[0].get("common_budget_seconds", min(r["seconds"][-1] for r in mine))
        epochs = len(mine[0]["held_out"])
        ok = [r["at_common_budget"] for r in mine if r.get("at_common_budget") == r.get("at_common_budget")]
        best = min(ok) if ok else None
        lines += ["", f"{kind.upper()}, {units.get(kind, 'held-out objective')} (lower is better):", "",
                  f"| batch | lr | s per epoch | after {budget:.1f} s of training | after {epochs} epochs |",
                  "| ---: | ---: | ---: | ---: | ---: |"]
        for r in mine:
            at = r.get("at_common_budget", float("nan"))
            cell = "–" if at != at else (f"**{at:.4g}**" if at == best else f"{at:.4g}")
            lines.append(f"| {r['batch']} | {r['lr']:g} | {r['seconds'][-1] / len(r['seconds']):.2f} | {cell} | "
                         f"{r['held_out'][-1]:.4g} |")
    return "\n".join(lines)


def update_readme(block: str, text: str) -> bool:
    """Replace what stands between ``<!-- bench:BLOCK -->`` and ``<!-- /bench:BLOCK -->`` in README.md."""
    begin, end = f"<!-- bench:{block} -->", f"<!-- /bench:{block} -->"
    readme = README.read_text()
    if begin not in readme or end not in readme:
        return False
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    README.write_text(f"{head}{begin}\n{text}\n{end}{tail}")
    return True


BENCHMARKS = ("throughput", "speed", "quality", "notebooks")


def split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    """run.py's own arguments, and those after ``--`` (for benchmarks/quality.py)."""
    return (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])


def main(argv=None) -> int:
    own, passthrough = split_passthrough(list(sys.argv[1:] if argv is None else argv))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="Arguments after `--` go to benchmarks/quality.py (e.g. -- --epochs 4).",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, metavar="NAME",
                        help=f"run these benchmarks only, of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--steps", type=int, default=200, help="training steps per timed run (MLP VAE, linear AE)")
    parser.add_argument("--steps-chapter5", type=int, default=200, help="training steps per timed run, chapter 6")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for the throughput runs (default: torch's own, one per core)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed rounds per loop (median reported), throughput and achieved GFLOP/s")
    parser.add_argument("--peak-sizes", type=int, nargs="+", default=[512, 1024, 2048],
                        help="speed: sizes n of the n x n matmuls of the peak")
    parser.add_argument("--peak-repeats", type=int, default=5, help="speed: timings per matmul size (best counts)")
    parser.add_argument("--speed-threads", type=int, nargs="+",
                        help="speed: thread counts of the peak and the achieved GFLOP/s (default: the book's, 1)")
    parser.add_argument("--speed-batches", type=int, nargs="+", default=[128, 512],
                        help="speed: batch sizes of the achieved GFLOP/s")
    parser.add_argument("--speed-steps", type=int, default=100, help="speed: training steps per timed run")
    parser.add_argument("--scaling-jobs", type=int, default=4,
                        help="speed: trainings in the jobs' speed-up (0: skip it)")
    parser.add_argument("--scaling-workers", type=int, default=2, help="speed: run_jobs' worker processes")
    parser.add_argument("--scaling-images", type=int, default=60_000,
                        help="speed: training images per job (DataSpec first=; 0: all)")
    parser.add_argument("--scaling-epochs", type=int, default=1, help="speed: epochs per job")
    parser.add_argument("--scaling-batch", type=int, default=128, help="speed: batch size of the jobs")
    parser.add_argument("--scaling-repeats", type=int, default=2,
                        help="speed: timings of the sequential and of the warm runs (median reported)")
    parser.add_argument("--notebooks", nargs="*", help="notebooks to execute (default: those in _toc.yml)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per notebook cell")
    parser.add_argument("--record-execution", action="store_true",
                        help="also write the notebooks' figures to results/execution.json (the appendix's file)")
    parser.add_argument("--no-record", action="store_true",
                        help="write nothing: neither results/ (benchmarks.json, execution.json, "
                             "quality_per_second.json) nor README.md")
    args = parser.parse_args(own)
    chosen = set(args.only or BENCHMARKS)
    if passthrough and "quality" not in chosen:
        parser.error("arguments after `--` are for benchmarks/quality.py, which this run does not include")
    start = time.perf_counter()
    done: dict[str, dict] = {}
    for name, run in (("throughput", run_throughput), ("speed", run_speed),
                      ("quality", lambda a: run_quality(a, passthrough)), ("notebooks", run_notebooks)):
        if name in chosen:
            done[name] = run(args)
    tables = {
        "throughput": throughput_markdown,
        "speed": speed_markdown,
        "quality": quality_markdown,
        "notebooks": lambda n: notebooks_markdown(n, n["load_average_1m_after"]),
    }
    for name, record in done.items():
        print("\n" + tables[name](record))
    if not args.no_record:
        out = RESULTS / "benchmarks.json"
        record = json.loads(out.read_text()) if out.is_file() else {}
        written = ["results/benchmarks.json"]
        if "quality" in done:
            written.append(done["quality"]["file"])
        for name, result in done.items():
            record[name] = result
            if update_readme(name, tables[name](result)):
                written.append(f"README.md ({name})")
        if "notebooks" in done and args.record_execution:
            written.append("results/execution.json (execute the appendix again before `make test`)")
        RESULTS.mkdir(exist_ok=True)
        out.write_text(json.dumps(record, indent=2) + "\n")
        print("\nupdated " + ", ".join(written))
    print(f"benchmarks took {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
