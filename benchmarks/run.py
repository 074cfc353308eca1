"""The book's benchmarks: training throughput, and the time and peak memory of every notebook.

    python benchmarks/run.py                       # both (what `make bench` runs)
    python benchmarks/run.py --only throughput     # about a minute
    python benchmarks/run.py --only notebooks      # every notebook of _toc.yml, from scratch

**Throughput.** The module's training loop (:func:`aevae.train.fit`: the data set held as one tensor,
a seeded permutation per epoch, slices of it) against the loop of pytorch/examples (``vae/main.py``):
a ``DataLoader(TensorDataset(x), batch_size, shuffle=True)`` and the same zero_grad / loss / backward /
``loss.item()`` / step. Both train copies of the same initialised model with Adam on the same loss,
batch size and number of steps, on the same images; the rounds alternate which loop goes first, and
the medians of the rounds are compared. Reported: images per second of each loop and their ratio, for
the MLP VAE of chapters 3-4 (:func:`aevae.config.book_net`) and for chapter 5's model (see
:func:`chapter5_model`).

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
import copy
import importlib.util
import json
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
    """Chapter 5's model: a beta-VAE on dSprites-style shapes (:mod:`aevae.shapes`), with the chapter's
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["throughput", "notebooks"], help="run one of the two benchmarks")
    parser.add_argument("--steps", type=int, default=200, help="training steps per timed run (MLP VAE, linear AE)")
    parser.add_argument("--steps-chapter5", type=int, default=200, help="training steps per timed run, chapter 5")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for the throughput runs (default: torch's own, one per core)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per loop (median reported)")
    parser.add_argument("--notebooks", nargs="*", help="notebooks to execute (default: those in _toc.yml)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per notebook cell")
    parser.add_argument("--record-execution", action="store_true",
                        help="also write the notebooks' figures to results/execution.json (the appendix's file)")
    parser.add_argument("--no-record", action="store_true",
                        help="write nothing: neither results/ (benchmarks.json, execution.json) nor README.md")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    t = run_throughput(args) if args.only in (None, "throughput") else None
    n = run_notebooks(args) if args.only in (None, "notebooks") else None
    if t:
        print("\n" + throughput_markdown(t))
    if n:
        print("\n" + notebooks_markdown(n, n["load_average_1m_after"]))
    if not args.no_record:
        out = RESULTS / "benchmarks.json"
        record = json.loads(out.read_text()) if out.is_file() else {}
        done = ["results/benchmarks.json"]
        if t:
            record["throughput"] = t
            if update_readme("throughput", throughput_markdown(t)):
                done.append("README.md (throughput)")
        if n:
            record["notebooks"] = n
            if update_readme("notebooks", notebooks_markdown(n, n["load_average_1m_after"])):
                done.append("README.md (notebooks)")
            if args.record_execution:
                done.append("results/execution.json (execute the appendix again before `make test`)")
        RESULTS.mkdir(exist_ok=True)
        out.write_text(json.dumps(record, indent=2) + "\n")
        print("\nupdated " + ", ".join(done))
    print(f"benchmarks took {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
