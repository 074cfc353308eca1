"""Independent trainings as jobs: one process per training, the same numbers wherever it runs.

A :class:`TrainJob` is a plain, hashable description of one training: which model (a name in
:data:`MODELS`), built from which config, trained on which data (:class:`DataSpec`) with which objective
(a name in :data:`LOSSES` plus its arguments), budget and seeds. :func:`run_job` turns it into a
:class:`JobResult` — the trained state dict and the loss history — on **one CPU thread**, seeded by the job
alone, so its result does not depend on where, or next to what, it runs.

:func:`run_jobs` runs a list of them:

- through **joblib** (worker processes on this machine, as many as cores by default; ``$AEVAE_JOBS``
  or ``n_jobs`` sets the count, ``1`` runs them in this process);
- through **Dask distributed** when ``$AEVAE_DASK_SCHEDULER`` names a scheduler (``tcp://host:8786``), via
  joblib's ``dask`` backend: the same code on a cluster. Each worker loads the data itself, so every
  worker needs Fashion-MNIST (``python -m aevae.data``) and this package installed;
- with a model cache (**joblib.Memory**) keyed by the job and by the source of this package, so a model
  that two chapters train is trained once, and a code change retrains it. The cache holds each result as
  ``torch.save`` bytes behind a SHA-256, loaded with ``weights_only=True``; an entry that fails the check
  is retrained, never used. ``$AEVAE_CACHE`` names its folder (default ``_build/model-cache`` under the
  book, else the per-user cache); ``$AEVAE_CACHE=off`` turns it off.

Results are bit-identical across backends and worker counts (tests/test_jobs.py checks joblib's processes
and a real ``dask.distributed.LocalCluster`` against the in-process run).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from .train import History, NonFiniteLossError, TrainConfig, fit

__all__ = ["DataSpec", "TrainJob", "JobResult", "JobError", "MODELS", "LOSSES", "TRANSFORMS", "DATASETS",
           "run_job", "run_jobs", "parallel_map", "model_cache", "cache_dir", "source_digest", "default_workers"]


# ------------------------------------------------------------------------------------------- registries
def _autoencoder(config):
    from .models import Autoencoder
    return Autoencoder(config)


def _vae(config):
    from .models import VAE
    return VAE(config)


def _gaussian_vae(config, init_scale: float = 1.0):
    from .vae_eval import GaussianVAE
    return GaussianVAE(config, init_scale=init_scale)


def _rnn(config):
    from .recurrent import RNN
    return RNN(config)


def _mdn_rnn(config, components: int = 3):
    from .recurrent import MDNRNN
    return MDNRNN(config, components=components)


def _vrnn(config, prior: str = "learned"):
    from .recurrent import VRNN
    return VRNN(config, prior=prior)


def _eval_classifier(config):
    from .metrics import EvalClassifier
    return EvalClassifier(config.input_dim, tuple(config.hidden), config.classes)


#: model name -> builder(config, **model_kwargs) returning an nn.Module
MODELS: dict[str, Callable[..., nn.Module]] = {
    "ae": _autoencoder, "vae": _vae, "gaussian_vae": _gaussian_vae, "rnn": _rnn, "mdn_rnn": _mdn_rnn, "vrnn": _vrnn,
    "eval_classifier": _eval_classifier,
}


def _loss_ae():
    from .objectives import ae_loss
    return ae_loss


def _loss_vae(beta: float = 1.0):
    from .objectives import vae_loss
    if not (isinstance(beta, (int, float)) and beta >= 0 and beta == beta and beta != float("inf")):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}.")
    return functools.partial(vae_loss, beta=float(beta))


def _loss_gaussian_vae():
    from .vae_eval import gaussian_vae_loss
    return gaussian_vae_loss


def _loss_denoising(std: float):
    from .latent import denoising_loss
    return denoising_loss(std)


def _loss_ae_bernoulli():
    from .disentangle import ae_bernoulli_loss
    return ae_bernoulli_loss


def _loss_rae(code_weight: float = 1.0, decoder_l2: float = 1e-3):
    from .knob import rae_loss
    return functools.partial(rae_loss, code_weight=code_weight, decoder_l2=decoder_l2)


def _loss_rnn():
    from .recurrent import rnn_loss
    return rnn_loss


def _loss_mdn_rnn():
    from .recurrent import mdn_rnn_loss
    return mdn_rnn_loss


def _loss_cross_entropy():
    from .metrics import classifier_loss
    return classifier_loss


def _loss_vrnn_warmup(steps: int):
    from .recurrent import KLWarmup
    return KLWarmup(steps)


#: loss name -> factory(**loss_kwargs) returning loss_fn(model, batch, generator) -> scalar
LOSSES: dict[str, Callable[..., Callable]] = {
    "ae": _loss_ae, "vae": _loss_vae, "gaussian_vae": _loss_gaussian_vae, "denoising": _loss_denoising,
    "ae_bernoulli": _loss_ae_bernoulli, "rae": _loss_rae, "rnn": _loss_rnn, "mdn_rnn": _loss_mdn_rnn,
    "vrnn_warmup": _loss_vrnn_warmup, "cross_entropy": _loss_cross_entropy,
}


def _binarize():
    from .data import binarize
    return binarize


def _dequantize():
    from .vae_eval import dequantize
    return dequantize


#: transform name -> factory() returning transform(batch, generator) -> batch (applied per batch)
TRANSFORMS: dict[str, Callable[[], Callable]] = {"binarize": _binarize, "dequantize": _dequantize}


@functools.lru_cache(maxsize=4)
def _fashion_mnist(split: str = "train") -> torch.Tensor:
    from .data import load_fashion_mnist
    return load_fashion_mnist(split).images


@functools.lru_cache(maxsize=4)
def _shapes(n: int, seed: int, resolution: int = 32) -> torch.Tensor:
    from .shapes import ShapesGrid
    images, _ = ShapesGrid(resolution=resolution).sample(n, torch.Generator().manual_seed(seed))
    return images


def _fashion_mnist_rows(split: str = "train") -> torch.Tensor:
    from .data import load_fashion_mnist
    from .sequences import images_to_sequences
    return images_to_sequences(load_fashion_mnist(split).images)


@functools.lru_cache(maxsize=2)
def _fashion_mnist_labelled(split: str = "train") -> torch.Tensor:
    from .data import load_fashion_mnist
    data = load_fashion_mnist(split)
    return torch.cat([data.images, data.labels[:, None].float()], 1)  # (N, 785): the label rides along


@functools.lru_cache(maxsize=4)
def _strokes(n: int, seed: int) -> torch.Tensor:
    from .sequences import StrokeProcess
    return StrokeProcess().sample(n, torch.Generator().manual_seed(seed)).x


#: data-set name -> loader(**params) returning the whole training tensor (N, ...), cached per process
DATASETS: dict[str, Callable[..., torch.Tensor]] = {
    "fashion-mnist": _fashion_mnist, "shapes": _shapes, "fashion-mnist-rows": _fashion_mnist_rows, "strokes": _strokes,
    "fashion-mnist-labelled": _fashion_mnist_labelled,
}


# ------------------------------------------------------------------------------------------------ jobs
def _frozen(kwargs: Mapping[str, Any] | Sequence | None) -> tuple:
    """A mapping as sorted (name, value) pairs: hashable, and equal for equal arguments."""
    if kwargs is None:
        return ()
    items = kwargs.items() if isinstance(kwargs, Mapping) else kwargs
    return tuple(sorted((str(k), v) for k, v in items))


@dataclass(frozen=True)
class DataSpec:
    """Where a job's training tensor comes from: a name in :data:`DATASETS` and its arguments.

    ``DataSpec("fashion-mnist")`` is the 60,000 training images (N, 784) in [0, 1];
    ``DataSpec("shapes", n=20_000, seed=1)`` chapter 6's shapes. ``first`` keeps the first n rows only.
    """

    name: str = "fashion-mnist"
    params: tuple = ()
    first: int | None = None

    def __init__(self, name: str = "fashion-mnist", first: int | None = None, **params):
        if name not in DATASETS:
            raise ValueError(f"unknown data set {name!r}: use one of {sorted(DATASETS)} "
                             "(or register a loader in aevae.jobs.DATASETS).")
        if first is not None and (not isinstance(first, int) or first < 1):
            raise ValueError(f"first must be a positive int or None, got {first!r}.")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "params", _frozen(params))
        object.__setattr__(self, "first", first)

    def load(self) -> torch.Tensor:
        x = DATASETS[self.name](**dict(self.params))
        return x if self.first is None else x[: self.first]


@dataclass(frozen=True)
class TrainJob:
    """One training, described by plain values (hashable, picklable, the cache's key).

    ``model``/``loss``/``transform`` are names in :data:`MODELS`, :data:`LOSSES`, :data:`TRANSFORMS`;
    ``init_seed`` seeds the initial weights (``torch.manual_seed`` before the model is built: two models
    with the same seed share their common layers' initial values); ``train.seed`` seeds the batches and
    every random draw of training. ``name`` is a label for messages and is not part of the result.
    """

    model: str
    config: Any  # the model's config dataclass (NetConfig, RecurrentConfig, ...), frozen
    loss: str
    data: DataSpec = field(default_factory=DataSpec)
    train: TrainConfig = field(default_factory=TrainConfig)
    init_seed: int = 0
    loss_kwargs: tuple = ()
    model_kwargs: tuple = ()
    transform: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "loss_kwargs", _frozen(self.loss_kwargs))
        object.__setattr__(self, "model_kwargs", _frozen(self.model_kwargs))
        problems = []
        if self.model not in MODELS:
            problems.append(f"model {self.model!r} is not one of {sorted(MODELS)}")
        if self.loss not in LOSSES:
            problems.append(f"loss {self.loss!r} is not one of {sorted(LOSSES)}")
        if self.transform is not None and self.transform not in TRANSFORMS:
            problems.append(f"transform {self.transform!r} is not one of {sorted(TRANSFORMS)} or None")
        if not isinstance(self.data, DataSpec):
            problems.append(f"data must be a DataSpec, got {type(self.data).__name__}")
        if not isinstance(self.train, TrainConfig):
            problems.append(f"train must be a TrainConfig, got {type(self.train).__name__}")
        if not isinstance(self.init_seed, int) or isinstance(self.init_seed, bool) or self.init_seed < 0:
            problems.append(f"init_seed must be a non-negative int, got {self.init_seed!r}")
        if not dataclasses.is_dataclass(self.config):
            problems.append(f"config must be the model's config dataclass, got {type(self.config).__name__}")
        if problems:
            raise ValueError("invalid TrainJob: " + "; ".join(problems) + ".")

    def key(self) -> "TrainJob":
        """The job without its label: what the result depends on."""
        return dataclasses.replace(self, name="")

    def describe(self) -> str:
        label = f"{self.name!r}: " if self.name else ""
        return (f"{label}model={self.model} {self.config}, loss={self.loss}{dict(self.loss_kwargs) or ''}, "
                f"data={self.data.name}{dict(self.data.params) or ''}, {self.train}, init_seed={self.init_seed}")

    def build(self) -> nn.Module:
        """The untrained model, with its seeded initial weights."""
        torch.manual_seed(self.init_seed)
        return MODELS[self.model](self.config, **dict(self.model_kwargs))


@dataclass
class JobResult:
    job: TrainJob
    state_dict: dict[str, torch.Tensor]
    history: History
    cached: bool = False  # loaded from the model cache rather than trained in this call

    def model(self) -> nn.Module:
        """The trained model (built as the job builds it, weights loaded), in eval mode on the CPU."""
        model = self.job.build()
        model.load_state_dict(self.state_dict)
        return model.eval()


class JobError(RuntimeError):
    """A job failed; its config is named, and the results of the jobs that finished are kept."""

    def __init__(self, message: str, job: TrainJob, finished: list[JobResult]):
        super().__init__(message)
        self.job = job
        self.finished = finished


def run_job(job: TrainJob) -> JobResult:
    """Train one job on one CPU thread (restored afterwards) and return its state dict and history."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = job.build()
        x = job.data.load()
        loss_fn = LOSSES[job.loss](**dict(job.loss_kwargs))
        transform = TRANSFORMS[job.transform]() if job.transform else None
        history = fit(model, loss_fn, x, job.train, device="cpu", transform=transform,
                      desc=job.name or job.model)
    finally:
        torch.set_num_threads(threads)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return JobResult(job, state, history)


# ------------------------------------------------------------------------------------------- the cache
def source_digest() -> str:
    """SHA-256 of this package's source files: part of every cache key, so a code change retrains."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(torch.__version__.encode())
    return h.hexdigest()


def cache_dir() -> Path | None:
    """The model cache's folder: $AEVAE_CACHE, else _build/model-cache in the book, else the user cache;
    None when $AEVAE_CACHE is ``off``."""
    raw = os.environ.get("AEVAE_CACHE")
    if raw is not None and raw.strip().lower() in {"off", "0", "none", ""}:
        return None
    if raw:
        return Path(raw).expanduser()
    from .book import _book_root

    root = _book_root()
    if root is not None:
        return Path(root) / "_build" / "model-cache"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aevae" / "models"


def _pack(result: JobResult) -> bytes:
    buf = io.BytesIO()
    torch.save({"state_dict": result.state_dict, "loss": list(result.history.loss),
                "steps": result.history.steps, "seconds": result.history.seconds}, buf)
    payload = buf.getvalue()
    return hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def _unpack(blob: Any, job: TrainJob) -> JobResult | None:
    """The result in a cache blob, or None if the blob is damaged in any way."""
    try:
        digest, payload = blob.split(b"\n", 1)
        if hashlib.sha256(payload).hexdigest().encode() != digest:
            return None
        data = torch.load(io.BytesIO(payload), weights_only=True)
        history = History(loss=[float(v) for v in data["loss"]], seconds=float(data["seconds"]),
                          steps=int(data["steps"]))
        return JobResult(job, data["state_dict"], history, cached=True)
    except Exception:  # noqa: BLE001 - anything unreadable is a miss, never a model
        return None


def _train_packed(job: TrainJob, digest: str) -> bytes:
    """What the cache stores for a job (``digest`` only keys the entry)."""
    return _pack(run_job(job))


def model_cache(location: Path):
    """``joblib.Memory(location).cache`` of the packed training (see :func:`cache_dir`)."""
    import joblib

    return joblib.Memory(location=str(location), verbose=0).cache(_train_packed)


# ------------------------------------------------------------------------------------------- running
def default_workers() -> int:
    raw = os.environ.get("AEVAE_JOBS")
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"$AEVAE_JOBS must be a positive integer, got {raw!r}; unset it to use every core.")
        return n
    return os.cpu_count() or 1


def _load(cached, job: TrainJob, digest: str) -> bytes | None:
    """The cache's entry for ``job``, or None where there is none or it cannot be read (joblib would
    quietly recompute a broken entry in this process; here the caller decides where to retrain)."""
    try:
        if not cached.check_call_in_cache(job.key(), digest):
            return None
        return cached.call_and_shelve(job.key(), digest).get()
    except Exception:  # noqa: BLE001 - a truncated or garbled entry is a miss
        return None


def _run_one(job: TrainJob, digest: str, location: str | None, retrain: bool = False
             ) -> tuple[bytes | None, str | None]:
    """Worker side: train (through the cache at ``location``, if any) and return the packed result, or
    the error. The client names the cache's folder, so workers started earlier use the same one;
    ``retrain`` overwrites an entry the client found damaged."""
    try:
        cached = model_cache(Path(location)) if location is not None else None
        if cached is None:
            blob = _train_packed(job, digest)
        else:
            blob = None if retrain else _load(cached, job, digest)
            if _unpack(blob, job) is None:
                blob = cached.call(job.key(), digest)[0]
        return blob, None
    except NonFiniteLossError as err:
        return None, f"non-finite loss: {err}"
    except Exception as err:  # noqa: BLE001 - reported with the job's config by the caller
        return None, f"{type(err).__name__}: {err}"


def run_jobs(jobs: Sequence[TrainJob], n_jobs: int | None = None, cache: bool = True,
             scheduler: str | None = None, verbose: bool = False) -> list[JobResult]:
    """Run ``jobs`` and return their results in the same order.

    ``n_jobs``: worker processes (default :func:`default_workers`; 1 runs in this process). ``scheduler``
    (default ``$AEVAE_DASK_SCHEDULER``): a Dask scheduler address to run on instead. ``cache``: use the
    model cache (see :func:`cache_dir`). A failed job raises :class:`JobError` naming its config after
    the other jobs finish; the finished results are kept on the error (``err.finished``) and in the cache.
    """
    jobs = list(jobs)
    for i, job in enumerate(jobs):
        if not isinstance(job, TrainJob):
            raise TypeError(f"jobs[{i}] must be a TrainJob, got {type(job).__name__}.")
    scheduler = scheduler if scheduler is not None else os.environ.get("AEVAE_DASK_SCHEDULER") or None
    n_jobs = default_workers() if n_jobs is None else n_jobs
    if not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive int, got {n_jobs!r}.")
    digest = source_digest()
    location = cache_dir() if cache else None
    cached = model_cache(location) if location is not None else None
    use_cache = cached is not None

    results: list[JobResult | None] = [None] * len(jobs)
    todo, damaged = [], set()
    for i, job in enumerate(jobs):
        if use_cache and cached.check_call_in_cache(job.key(), digest):
            hit = _unpack(_load(cached, job, digest), job)  # None if damaged
            if hit is not None:
                results[i] = hit
                continue
            damaged.add(i)  # unreadable or failing its SHA-256: retrained (and overwritten), never used
        todo.append(i)

    start = time.perf_counter()
    if todo:
        outs = _dispatch([jobs[i] for i in todo], digest, str(location) if use_cache else None, n_jobs, scheduler,
                         [i in damaged for i in todo])
        failures = []
        for i, (blob, error) in zip(todo, outs):
            if error is None:
                result = _unpack(blob, jobs[i])
                if result is None:  # damaged on the way: train here, once (and store it)
                    blob = cached.call(jobs[i].key(), digest)[0] if use_cache else _train_packed(jobs[i], digest)
                    result = _unpack(blob, jobs[i])
                result.cached = False
                results[i] = result
            else:
                failures.append((i, error))
        if failures:
            i, error = failures[0]
            finished = [r for r in results if r is not None]
            others = [jobs[k].name or f"job {k}" for k, _ in failures[1:]]
            more = f" (failed too: {', '.join(map(repr, others))})" if others else ""
            raise JobError(f"job {i} failed: {error}\n  its config: {jobs[i].describe()}{more}\n"
                           f"  {len(finished)} finished job(s) are kept on this error (.finished)"
                           + (" and in the model cache" if use_cache else ""), jobs[i], finished)
    if verbose:
        print(f"{len(jobs)} job(s): {len(todo)} trained, {len(jobs) - len(todo)} from the cache, "
              f"{time.perf_counter() - start:.1f} s")
    return results  # type: ignore[return-value]


def _dispatch(jobs: list[TrainJob], digest: str, location: str | None, n_jobs: int,
              scheduler: str | None, retrain: list[bool]) -> list[tuple[bytes | None, str | None]]:
    """Each job's (packed result, None) or (None, error). A worker that dies (killed, out of memory) takes
    its job with it: the jobs that finished are then recovered from the cache, the others get the error."""
    try:
        return _parallel(jobs, digest, location, n_jobs, scheduler, retrain)
    except Exception as err:  # noqa: BLE001 - e.g. joblib's TerminatedWorkerError
        cached = model_cache(Path(location)) if location is not None else None
        outs = []
        for job in jobs:
            blob = _load(cached, job, digest) if cached is not None else None
            if _unpack(blob, job) is not None:
                outs.append((blob, None))
            else:
                outs.append((None, f"the run stopped before this job finished: {type(err).__name__}: {err}"))
        return outs


def _parallel(jobs: list[TrainJob], digest: str, location: str | None, n_jobs: int,
              scheduler: str | None, retrain: list[bool]) -> list[tuple[bytes | None, str | None]]:
    if scheduler:
        import joblib
        from dask.distributed import Client

        with Client(scheduler) as client, joblib.parallel_config(backend="dask", wait_for_workers_timeout=60):
            del client
            return joblib.Parallel(n_jobs=-1)(
                joblib.delayed(_run_one)(j, digest, location, r) for j, r in zip(jobs, retrain))
    if n_jobs == 1 or len(jobs) == 1:
        return [_run_one(j, digest, location, r) for j, r in zip(jobs, retrain)]
    return parallel_map(_run_one, [(j, digest, location, r) for j, r in zip(jobs, retrain)], n_jobs)


def parallel_map(fn: Callable, calls: Sequence[tuple], n_jobs: int | None = None) -> list:
    """``[fn(*args) for args in calls]`` in joblib/loky worker processes (``n_jobs``, default
    :func:`default_workers`), in order. The workers are stopped afterwards rather than after loky's idle
    timeout: each holds torch and a copy of its data (about 0.6 GB), which would otherwise add to the
    notebook's own memory peak."""
    n_jobs = default_workers() if n_jobs is None else n_jobs
    if n_jobs == 1 or len(calls) <= 1:
        return [fn(*args) for args in calls]
    import joblib
    from joblib.externals.loky import get_reusable_executor

    try:
        return joblib.Parallel(n_jobs=min(n_jobs, len(calls)), backend="loky")(
            joblib.delayed(fn)(*args) for args in calls)
    finally:
        get_reusable_executor().shutdown(wait=True)
