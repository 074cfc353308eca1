"""The book's shared architectures and training budgets: the Fashion-MNIST chapters (2-4) and chapter 6.

Chapters 2, 3 and 4 build every AE and VAE from these, so the models differ only where the chapter
says they do (the encoder's head and the objective).
"""

from __future__ import annotations

from .models import NetConfig
from .train import TrainConfig

__all__ = ["K_VALUES", "HIDDEN", "book_net", "BOOK_TRAIN", "SHAPES_RESOLUTION", "SHAPES_N_TRAIN", "SHAPES_NET",
           "SHAPES_TRAIN"]

K_VALUES = (2, 16, 32)  # latent sizes compared with PCA at the same k
HIDDEN = (512, 256)  # MLP widths, encoder 784 -> 512 -> 256 -> k, decoder mirrored


def book_net(latent_dim: int) -> NetConfig:
    """The MLP encoder/decoder of chapters 3 and 4 with a ``latent_dim``-dimensional code."""
    return NetConfig(input_dim=784, hidden=HIDDEN, latent_dim=latent_dim, activation="relu", output="sigmoid")


# Adam, batch 128, on the 60,000 training images: about 12 s per epoch for the MLP AE on one CPU thread
# (each job's). 4 epochs: chosen by quality per second (benchmarks/quality.py, results/quality_per_second.json).
BOOK_TRAIN = TrainConfig(epochs=4, batch_size=128, lr=1e-3, seed=0)


# Chapter 6: dSprites-style shapes (aevae.shapes) with the full factor grid drawn at 32 x 32, an MLP
# 1024 -> 256 -> 256 -> 10 and back, trained for 10 epochs over 20,000 shapes (1,570 Adam steps) per
# model and seed. benchmarks/run.py times this configuration.
SHAPES_RESOLUTION = 32
SHAPES_N_TRAIN = 20_000
SHAPES_NET = NetConfig(input_dim=SHAPES_RESOLUTION**2, hidden=(256, 256), latent_dim=10)
SHAPES_TRAIN = TrainConfig(epochs=10, batch_size=128, lr=2e-3, seed=0)
