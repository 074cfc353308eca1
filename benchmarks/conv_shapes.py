"""Exploration for issue 15 (not part of a chapter yet): does a convolutional beta-VAE on the book's
32 x 32 shapes learn the factors the MLP of chapter 6 misses, and does MIG move with training?

    python benchmarks/conv_shapes.py --arch conv --beta 4 --steps 6000 --checkpoints 1570,3000,6000

One training on one CPU thread (run two at once on two cores). The encoder and decoder follow Burgess et
al. 2018 / Locatello et al. 2019 (three 4x4 stride-2 convolutions with 32 channels, two dense layers of
256, k = 10), scaled from 64 x 64 to 32 x 32 by dropping one convolution; ``--arch mlp`` is chapter 6's
1024-256-256-10 MLP. Loss: the beta-weighted negative ELBO with a Bernoulli decoder, summed over pixels and
averaged over the batch (as aevae.objectives.vae_loss). At each checkpoint, on a fixed evaluation pool:
the reconstruction NLL and KL in nats per image, the informative units (KL > 0.1 nats), MIG
(aevae.disentangle.mig) of the posterior means, and the accuracy of chapter 6's factor classifier
(aevae.beta_report, trained on the original images) on the reconstructions — does a model keep shape,
scale and orientation at all? Prints one JSON line per checkpoint and writes them all to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

from aevae.beta_report import factor_accuracy, train_factor_classifier
from aevae.config import SHAPES_N_TRAIN, SHAPES_RESOLUTION
from aevae.disentangle import mig
from aevae.shapes import ShapesGrid

FACTORS = ("shape", "scale", "orientation")


class ConvVAE(nn.Module):
    """Burgess et al.'s encoder/decoder at 32 x 32: x (B, 1024) -> mean, log-variance (B, k); z -> logits (B, 1024)."""

    def __init__(self, k: int = 10, side: int = 32):
        super().__init__()
        self.k, self.side = k, side
        flat = 32 * (side // 8) ** 2
        self.enc = nn.Sequential(
            nn.Unflatten(1, (1, side, side)),
            nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(), nn.Flatten(),  # (B, 32 * 4 * 4)
            nn.Linear(flat, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2 * k))
        self.dec = nn.Sequential(
            nn.Linear(k, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, flat), nn.ReLU(),
            nn.Unflatten(1, (32, side // 8, side // 8)),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Flatten())  # (B, side * side) logits

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.enc(x)
        return h[:, : self.k], h[:, self.k :]


class MLPVAE(ConvVAE):
    """Chapter 6's MLP (1024-256-256-k), with the same interface."""

    def __init__(self, k: int = 10, side: int = 32):
        nn.Module.__init__(self)
        self.k, self.side = k, side
        d = side * side
        self.enc = nn.Sequential(nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2 * k))
        self.dec = nn.Sequential(nn.Linear(k, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, d))


def beta_elbo(model: ConvVAE, x: torch.Tensor, beta: float, g: torch.Generator) -> torch.Tensor:
    """-log p(x|z) + beta KL(q(z|x) || N(0, I)), nats, summed over pixels and units, mean over the batch."""
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g)
    rec = F.binary_cross_entropy_with_logits(model.dec(z), x, reduction="sum")
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()
    return (rec + beta * kl) / x.shape[0]


@torch.no_grad()
def evaluate(model: ConvVAE, clf, pool_x: torch.Tensor, pool_idx: torch.Tensor) -> dict:
    model.eval()
    mu, logvar = model.encode(pool_x)
    logits = model.dec(mu)
    kl_units = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)).mean(0)  # (k,)
    model.train()
    acc = factor_accuracy(clf, torch.sigmoid(logits), pool_idx, names=FACTORS)
    return {"recon_nats": round(float(F.binary_cross_entropy_with_logits(logits, pool_x, reduction="sum")) / len(pool_x), 2),
            "kl_nats": round(float(kl_units.sum()), 2), "informative": int((kl_units > 0.1).sum()),
            "mig": round(float(mig(mu.numpy(), pool_idx.numpy()).score), 4),
            "acc_recon": {name: round(a, 3) for name, a in acc.items()}}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", choices=("conv", "mlp"), default="conv")
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--checkpoints", default="1570,3000,6000")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--n-train", type=int, default=SHAPES_N_TRAIN)
    p.add_argument("--n-pool", type=int, default=5000)
    p.add_argument("--clf-epochs", type=int, default=15)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    checkpoints = sorted({int(s) for s in a.checkpoints.split(",")} | {a.steps})
    if a.steps < 1 or checkpoints[0] < 1 or checkpoints[-1] > a.steps:
        p.error(f"--checkpoints must lie in 1..--steps ({a.steps}); got {a.checkpoints}")
    torch.set_num_threads(1)
    grid = ShapesGrid(resolution=SHAPES_RESOLUTION)
    train_x, train_idx = grid.sample(a.n_train, torch.Generator().manual_seed(1))  # as chapter 6
    pool_x, pool_idx = grid.sample(a.n_pool, torch.Generator().manual_seed(2))
    clf = train_factor_classifier(train_x, train_idx, grid.factor_sizes, factors=(0, 1, 2), epochs=a.clf_epochs, seed=0)
    out = {"args": vars(a), "acc_originals": factor_accuracy(clf, pool_x, pool_idx, names=FACTORS), "points": []}
    torch.manual_seed(a.seed)
    model = (ConvVAE if a.arch == "conv" else MLPVAE)(side=SHAPES_RESOLUTION)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    g = torch.Generator().manual_seed(a.seed)
    step, seconds = 0, 0.0
    while step < a.steps:
        order = torch.randperm(len(train_x), generator=g)
        for i in range(0, len(train_x) - a.batch + 1, a.batch):
            t = time.perf_counter()
            loss = beta_elbo(model, train_x[order[i : i + a.batch]], a.beta, g)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss at step {step}: lower --lr (now {a.lr})")
            opt.zero_grad()
            loss.backward()
            opt.step()
            seconds += time.perf_counter() - t
            step += 1
            if step in checkpoints:
                point = {"step": step, "train_seconds": round(seconds, 1), **evaluate(model, clf, pool_x, pool_idx)}
                out["points"].append(point)
                print(json.dumps(point), flush=True)
            if step == a.steps:
                break
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
