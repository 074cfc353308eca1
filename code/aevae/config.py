"""The book's shared architecture and training budget for the Fashion-MNIST chapters (2-4).

Chapters 2, 3 and 4 build every AE and VAE from these, so the models differ only where the chapter
says they do (the encoder's head and the objective).
"""

from __future__ import annotations

from .models import NetConfig
from .train import TrainConfig

__all__ = ["K_VALUES", "HIDDEN", "book_net", "BOOK_TRAIN"]

K_VALUES = (2, 16, 32)  # latent sizes compared with PCA at the same k
HIDDEN = (512, 256)  # MLP widths, encoder 784 -> 512 -> 256 -> k, decoder mirrored


def book_net(latent_dim: int) -> NetConfig:
    """The MLP encoder/decoder of chapters 3 and 4 with a ``latent_dim``-dimensional code."""
    return NetConfig(input_dim=784, hidden=HIDDEN, latent_dim=latent_dim, activation="relu", output="sigmoid")


# Adam, batch 128, on the 60,000 training images: about 2.6 s per epoch for the MLP AE on 2 CPU cores.
BOOK_TRAIN = TrainConfig(epochs=8, batch_size=128, lr=1e-3, seed=0)
