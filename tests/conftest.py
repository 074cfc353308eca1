import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def fake_fashion_arrays(seed: int, n_train: int, n_test: int) -> dict[str, np.ndarray]:
    """Random uint8 arrays shaped like the four Fashion-MNIST files, by file name."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, size=(n_train,), dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, size=(n_test,), dtype=np.uint8),
    }


def pin_fake_fashion(arrays: dict[str, np.ndarray], monkeypatch, tmp_path: Path) -> dict[str, bytes]:
    """Pin aevae.data's checksums to ``arrays`` and isolate it (empty cache, no $AEVAE_DATA, no system
    copy); returns each file's gzipped IDX bytes, by name."""
    import hashlib

    from aevae import data

    files, pinned = {}, {}
    for name, arr in arrays.items():
        raw = idx_bytes(arr)
        files[name] = gzip.compress(raw)
        pinned[name] = (hashlib.sha256(raw).hexdigest(), len(raw))
    monkeypatch.setattr(data, "FILES", pinned)
    monkeypatch.setattr(data, "_CACHE", {})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "SYSTEM_DIR", tmp_path / "no-system-copy")
    return files


@pytest.fixture
def tiny_idx(tmp_path):
    """Writes a small valid IDX image file and label file; returns their paths and arrays."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=(5,), dtype=np.uint8)
    img_path = tmp_path / "imgs.gz"
    lab_path = tmp_path / "labs.gz"
    img_path.write_bytes(gzip.compress(idx_bytes(images)))
    lab_path.write_bytes(gzip.compress(idx_bytes(labels)))
    return img_path, lab_path, images, labels


@pytest.fixture(scope="session")
def k2_models():
    """An untrained k = 2 AE (seed 0) and VAE (seed 1) of the book's network, in eval mode: what the
    explorer tests (unit and browser) export and compare with the page's forward pass."""
    import torch

    from aevae.config import book_net
    from aevae.models import VAE, Autoencoder

    torch.manual_seed(0)
    ae = Autoencoder(book_net(2))
    torch.manual_seed(1)
    vae = VAE(book_net(2))
    return ae.eval(), vae.eval()
