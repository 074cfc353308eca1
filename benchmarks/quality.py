"""Quality per second: which batch size and learning rate reach the best held-out objective in a fixed
wall time, for the book's MLP VAE (784-512-256-16, Bernoulli decoder) and AE, trained as the job layer
trains them (one CPU thread per training).

    python benchmarks/quality.py [--epochs 8] [--settings 128:2e-3 ...] [--merge] [--workers 2]

Each setting trains with :func:`aevae.train.fit` and is evaluated after every epoch on a fixed held-out
set (the VAE: -ELBO in nats per image on 10,000 binarized test images, one fixed draw; the AE: test MSE per
pixel). Evaluation time is not counted. The table gives, for each setting, the held-out value at a
common training-time budget (linear interpolation between epochs) and after the last epoch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

SETTINGS = [  # (batch size, learning rate): the book's 128 / 1e-3, larger rates, larger batches with scaled rates
    (128, 1e-3), (128, 2e-3), (128, 3e-3), (256, 1e-3), (256, 1.5e-3), (512, 2e-3), (512, 3e-3),
]


def setting(text: str) -> tuple[int, float]:
    """'128:2e-3' -> (128, 0.002)."""
    try:
        batch, lr = text.split(":")
        return int(batch), float(lr)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a setting is BATCH:LR, e.g. 128:2e-3; got {text!r}") from None


def curve(kind: str, batch: int, lr: float, epochs: int) -> dict:
    from aevae.config import book_net
    from aevae.data import binarize, load_fashion_mnist
    from aevae.models import VAE, Autoencoder
    from aevae.objectives import ae_loss, elbo, vae_loss
    from aevae.train import TrainConfig, fit

    torch.set_num_threads(1)
    train = load_fashion_mnist("train").images
    test = load_fashion_mnist("test").images
    held = binarize(test, torch.Generator().manual_seed(5)) if kind == "vae" else test
    values: list[float] = []

    @torch.no_grad()
    def evaluate(epoch, model):
        model.eval()
        if kind == "vae":
            v = -float(torch.cat([elbo(model, b, torch.Generator().manual_seed(6)).elbo for b in held.split(2000)]).mean())
        else:
            v = float(torch.cat([((model(b).x_hat - b) ** 2).mean(1) for b in held.split(2000)]).mean())
        values.append(v)

    torch.manual_seed(0)
    model = VAE(book_net(16)) if kind == "vae" else Autoencoder(book_net(16))
    hist = fit(model, vae_loss if kind == "vae" else ae_loss, train,
               TrainConfig(epochs=epochs, batch_size=batch, lr=lr, seed=0),
               transform=binarize if kind == "vae" else None, on_epoch=evaluate)
    return {"kind": kind, "batch": batch, "lr": lr, "seconds": hist.epoch_seconds, "held_out": values}


def at_budget(row: dict, budget: float) -> float:
    t, v = np.array(row["seconds"]), np.array(row["held_out"])
    return float(np.interp(budget, t, v)) if budget >= t[0] else float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--kinds", nargs="*", default=["vae", "ae"])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "quality_per_second.json")
    parser.add_argument("--settings", nargs="*", type=setting, default=SETTINGS, metavar="BATCH:LR",
                        help="which settings to train (default: all of SETTINGS)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other rows already in --out (same epochs), replacing those trained now")
    parser.add_argument("--workers", type=int, default=1,
                        help="train this many curves at a time, one thread each (as the job layer does)")
    args = parser.parse_args(argv)
    todo = [(kind, b, lr) for kind in args.kinds for b, lr in args.settings]
    if args.workers > 1:
        from joblib import Parallel, delayed
        rows = Parallel(n_jobs=args.workers)(delayed(curve)(kind, b, lr, args.epochs) for kind, b, lr in todo)
    else:
        rows = [curve(kind, b, lr, args.epochs) for kind, b, lr in todo]
    if args.merge and args.out.exists():
        new = {(r["kind"], r["batch"], r["lr"]) for r in rows}
        old = [r for r in json.loads(args.out.read_text())["rows"] if (r["kind"], r["batch"], r["lr"]) not in new
               and len(r["seconds"]) == args.epochs]
        rows = sorted(old + rows, key=lambda r: (r["kind"] != "vae", r["batch"], r["lr"]))
    args.kinds = list(dict.fromkeys(r["kind"] for r in rows))
    for kind in args.kinds:
        mine = [r for r in rows if r["kind"] == kind]
        budget = min(r["seconds"][-1] for r in mine)  # the fastest setting's whole run
        unit = "-ELBO (nats/image)" if kind == "vae" else "MSE per pixel"
        print(f"\n{kind.upper()}: held-out {unit} after {budget:.1f} s of training, and after {args.epochs} epochs")
        print("| batch | lr | s/epoch | at the common budget | after all epochs |\n| ---: | ---: | ---: | ---: | ---: |")
        for r in mine:
            print(f"| {r['batch']} | {r['lr']:g} | {r['seconds'][-1] / len(r['seconds']):.2f} | "
                  f"{at_budget(r, budget):.4g} | {r['held_out'][-1]:.4g} |")
        for r in mine:
            r["at_common_budget"] = at_budget(r, budget)
            r["common_budget_seconds"] = budget
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "threads": 1, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
