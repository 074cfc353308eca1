"""Fashion-MNIST: find, verify and load the four IDX files.

Where the files are looked for:

1. the ``folder`` argument of :func:`load_fashion_mnist`, if given;
2. else the folder named by the environment variable ``AEVAE_DATA``, if set;
3. else the per-user cache, ``$XDG_CACHE_HOME/aevae/fashion-mnist`` (default ``~/.cache/...``), then
   ``/usr/share/datasets/fashion-mnist``, where the Debian/Ubuntu package ``dataset-fashion-mnist``
   installs them.

An explicit folder (1 or 2) is binding: if it does not exist or lacks one of the four files, that is an
error naming the folder, the missing files and the fix — never a silent fall-back to another copy, so a
user who points the book at their own files is sure to use them. Only without an explicit folder, if
neither place of 3 holds the files, are they downloaded from the data set's official host into the
cache (``download_if_missing=True``).

Every file is checked against a pinned SHA-256 of its *decompressed* IDX bytes
(the Debian package recompresses the ``.gz`` files, so the compressed bytes differ from the official
ones while the content is the same). A corrupted or truncated file is refused with an error that names
it and says how to get a good copy; a download is written under a temporary name and renamed only
after it verifies, so nothing partial is ever used.

Run ``python -m aevae.data`` to make sure the data are present (it downloads if needed).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import struct
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import checks

__all__ = [
    "CLASSES",
    "FILES",
    "DataError",
    "Split",
    "load_fashion_mnist",
    "find_data_dir",
    "read_idx",
    "binarize",
    "load_digits_28",
]

ENV_VAR = "AEVAE_DATA"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
BASE_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

# name -> (sha256 of the decompressed IDX bytes, decompressed size in bytes)
FILES = {
    "train-images-idx3-ubyte.gz": ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
    "train-labels-idx1-ubyte.gz": ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
    "t10k-images-idx3-ubyte.gz": ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
    "t10k-labels-idx1-ubyte.gz": ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
}
SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

HOW_TO_GET = (
    "Get the Fashion-MNIST files in one of three ways:\n"
    "  1. install the Debian/Ubuntu package:  sudo apt-get install dataset-fashion-mnist\n"
    "     (files land in /usr/share/datasets/fashion-mnist);\n"
    "  2. download them with network access:  python -m aevae.data\n"
    f"     (from {BASE_URL} into the per-user cache);\n"
    f"  3. put the four .gz files in a folder and point the variable at it:  export {ENV_VAR}=/path/to/folder"
)


class DataError(RuntimeError):
    """The data set is missing, corrupted, or was asked for wrongly."""


@dataclass(frozen=True)
class Split:
    """One split in memory: ``images`` (N, 784) float32 in [0, 1] and ``labels`` (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aevae" / "fashion-mnist"


def candidate_dirs(folder: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The places looked in, in order, each with the reason it is looked in: only the explicit folder
    (the argument, else ``$AEVAE_DATA``) when there is one, else the cache and the system copy."""
    explicit = _explicit(folder)
    if explicit is not None:
        return [explicit]
    return [("the per-user cache", cache_dir()), ("the Debian package dataset-fashion-mnist", SYSTEM_DIR)]


def _explicit(folder: str | os.PathLike | None) -> tuple[str, Path] | None:
    """The folder the caller asked for: the argument, else ``$AEVAE_DATA`` when set; None otherwise."""
    if folder is not None:
        if not isinstance(folder, (str, os.PathLike)):
            raise TypeError(f"folder must be a path (str or pathlib.Path) or None; got {type(folder).__name__}.")
        return ("the folder argument", Path(folder))
    if os.environ.get(ENV_VAR):
        return (f"${ENV_VAR}", Path(os.environ[ENV_VAR]))
    return None


def _has_all(path: Path) -> bool:
    return all((path / name).is_file() for name in FILES)


def find_data_dir(folder: str | os.PathLike | None = None) -> Path | None:
    """The folder that holds all four files, or ``None`` when no copy is found (and none was asked for).

    An explicit folder — the ``folder`` argument, else ``$AEVAE_DATA`` — that does not exist or does not
    hold the four files is a :class:`DataError` naming it and the fix, not a fall-through: the caller
    asked for that folder.
    """
    explicit = _explicit(folder)
    if explicit is not None:
        why, path = explicit
        fix = (f"Put the four files there, point {'the argument' if folder is not None else ENV_VAR} at the "
               f"folder that holds them"
               + ("" if folder is not None else f", or unset {ENV_VAR} to use the cache or the system copy")
               + ".")
        if not path.is_dir():
            raise DataError(f"The data folder {path} (from {why}) does not exist. {fix}\n{HOW_TO_GET}")
        missing = [name for name in FILES if not (path / name).is_file()]
        if missing:
            raise DataError(f"The data folder {path} (from {why}) lacks {', '.join(missing)}. {fix}\n{HOW_TO_GET}")
        return path
    for _, path in candidate_dirs():
        if _has_all(path):
            return path
    return None


def _decompress(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"{path} is not a readable gzip file ({err}): it is corrupted or truncated. "
            f"Delete it and get a good copy.\n{HOW_TO_GET}"
        ) from err


def verified_bytes(path: Path) -> bytes:
    """The decompressed content of one of the four files, after checking its SHA-256."""
    name = path.name
    if name not in FILES:
        raise DataError(f"{path}: unknown file name; expected one of {sorted(FILES)}.")
    raw = _decompress(path)
    sha, size = FILES[name]
    digest = hashlib.sha256(raw).hexdigest()
    if len(raw) != size or digest != sha:
        raise DataError(
            f"{path} does not match the pinned checksum (size {len(raw)} bytes, expected {size}; "
            f"sha256 {digest[:12]}…, expected {sha[:12]}…): it is corrupted or truncated. "
            f"Delete it and get a good copy.\n{HOW_TO_GET}"
        )
    return raw


def read_idx(raw: bytes) -> np.ndarray:
    """Parse IDX bytes (the format of the MNIST family) into a numpy array."""
    if len(raw) < 4:
        raise DataError("IDX data shorter than its 4-byte header.")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DataError(f"Not an unsigned-byte IDX file (magic {raw[:4].hex()}).")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    offset = 4 + 4 * ndim
    count = int(np.prod(shape))
    if len(raw) - offset != count:
        raise DataError(f"IDX data holds {len(raw) - offset} values, its header says {count}.")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def download(dest: Path | None = None, base_url: str | None = None, timeout: float = 60.0) -> Path:
    """Download the four files into ``dest`` (default: the per-user cache), verifying each.

    Each file is written to a temporary name in the same folder and renamed only once its checksum
    matches, so an interrupted or corrupted download never leaves a file that could be used: a dropped
    connection, a truncated or a corrupted file is a :class:`DataError` naming the URL, and the partial
    file is deleted.
    """
    base_url = base_url if base_url is not None else BASE_URL  # read at call time (tests point it elsewhere)
    dest = Path(dest) if dest is not None else cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        target = dest / name
        if target.is_file():
            try:
                verified_bytes(target)
                continue
            except DataError:
                target.unlink()
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(base_url + name, timeout=timeout) as resp:
                headers = getattr(resp, "headers", None)
                declared, got = (headers.get("Content-Length") if headers is not None else None), 0
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    got += len(chunk)
            if declared is not None and declared.isdigit() and got != int(declared):
                raise DataError(f"Could not download {base_url + name}: the connection closed after {got} of "
                                f"{declared} bytes. Nothing was kept; try again.\n{HOW_TO_GET}")
            _check_download(tmp, name, base_url + name)
            os.replace(tmp, target)
        except (urllib.error.URLError, OSError, TimeoutError, http.client.HTTPException) as err:
            if isinstance(err, http.client.IncompleteRead):
                err = f"the connection closed after {len(err.partial)} bytes, before the end of the file"
            raise DataError(f"Could not download {base_url + name}: {err}. Nothing was kept; try again.\n"
                            f"{HOW_TO_GET}") from err
        finally:
            if tmp.exists():
                tmp.unlink()
    return dest


def _check_download(tmp: Path, name: str, url: str = "") -> None:
    try:
        with gzip.open(tmp, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"The downloaded {name} ({url or name}) is truncated or corrupted (not a complete gzip "
                        f"stream: {err}); it was discarded. Try again.\n{HOW_TO_GET}") from err
    sha, size = FILES[name]
    if len(raw) != size or hashlib.sha256(raw).hexdigest() != sha:
        raise DataError(f"The downloaded {name} ({url or name}) does not match the pinned checksum; it was "
                        f"discarded.\n{HOW_TO_GET}")


_CACHE: dict[tuple[str, str], Split] = {}


def load_fashion_mnist(
    split: str = "train",
    folder: str | os.PathLike | None = None,
    download_if_missing: bool = True,
) -> Split:
    """Load one split of Fashion-MNIST as tensors in memory.

    Returns a :class:`Split` with ``images`` (N, 784) float32 in [0, 1] and ``labels`` (N,) int64:
    60,000 images for ``"train"``, 10,000 for ``"test"``. A second call in the same process returns
    the cached tensors (clone them before modifying in place).
    """
    if split not in SPLITS:
        raise DataError(f"Unknown split {split!r}: use 'train' or 'test'.")
    if not isinstance(download_if_missing, bool):
        raise TypeError(f"download_if_missing must be True or False; got {download_if_missing!r}.")
    path = find_data_dir(folder)
    if path is None:
        if not download_if_missing:
            raise DataError(f"Fashion-MNIST was not found in any of: {_places()}.\n{HOW_TO_GET}")
        try:
            path = download()
        except DataError as err:
            raise DataError(
                f"Fashion-MNIST was not found in any of: {_places()}, and the download failed.\n{err}"
            ) from err
    key = (str(path.resolve()), split)
    if key not in _CACHE:
        image_file, label_file = SPLITS[split]
        images = read_idx(verified_bytes(path / image_file))  # (N, 28, 28) uint8
        labels = read_idx(verified_bytes(path / label_file))  # (N,) uint8
        if images.shape[0] != labels.shape[0]:
            raise DataError(f"{path}: {images.shape[0]} images but {labels.shape[0]} labels.")
        x = torch.from_numpy(images.reshape(images.shape[0], -1).astype(np.float32) / 255.0)  # (N, 784)
        y = torch.from_numpy(labels.astype(np.int64))  # (N,)
        _CACHE[key] = Split(x, y)
    return _CACHE[key]


def _places() -> str:
    return "; ".join(f"{why} ({path})" for why, path in candidate_dirs())


def binarize(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarization: each pixel is 1 with probability equal to its intensity."""
    checks.tensor(images, "images", "binarize", dims="(N, D) intensities", check_finite=False)
    checks.in_range(images, "images", "binarize", 0, 1, "binarize expects intensities in [0, 1] (0-255 images / 255)")
    checks.generator(generator, "binarize")
    return torch.bernoulli(images, generator=generator)


def main() -> None:  # python -m aevae.data
    path = find_data_dir()
    if path is None:
        print(f"Fashion-MNIST not found locally; downloading into {cache_dir()} …")
        path = download()
    for name in FILES:
        verified_bytes(path / name)
    print(f"Fashion-MNIST verified in {path}")


if __name__ == "__main__":
    main()


def load_digits_28() -> Split:
    """An out-of-distribution set that needs no download: scikit-learn's 1,797 handwritten digits
    (8×8, shipped inside the package), upsampled to 20×20 and centred in a 28×28 frame the way MNIST
    digits are, as (N, 784) float32 in [0, 1], with their digit labels. White strokes on black, like
    Fashion-MNIST's garments."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy(digits.images.astype(np.float32) / 16.0)[:, None]  # (N, 1, 8, 8)
    x = torch.nn.functional.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False)
    x = torch.nn.functional.pad(x, (4, 4, 4, 4)).clamp(0, 1)  # (N, 1, 28, 28)
    return Split(x.reshape(x.shape[0], -1).contiguous(), torch.from_numpy(digits.target.astype(np.int64)))
