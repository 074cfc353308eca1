import gzip

import numpy as np
import pytest
import torch

from aevae import data
from aevae.data import DataError

from conftest import fake_fashion_arrays, pin_fake_fashion


@pytest.fixture
def fake_dataset(tmp_path, monkeypatch):
    """A folder with four small, valid IDX files, and FILES pinned to their checksums."""
    arrays = fake_fashion_arrays(1, 12, 4)
    folder = tmp_path / "fmnist"
    folder.mkdir()
    for name, blob in pin_fake_fashion(arrays, monkeypatch, tmp_path).items():
        (folder / name).write_bytes(blob)
    return folder, arrays


def test_read_idx_roundtrip(tiny_idx):
    img_path, lab_path, images, labels = tiny_idx
    np.testing.assert_array_equal(data.read_idx(gzip.decompress(img_path.read_bytes())), images)
    np.testing.assert_array_equal(data.read_idx(gzip.decompress(lab_path.read_bytes())), labels)


def test_read_idx_rejects_wrong_length(tiny_idx):
    img_path, *_ = tiny_idx
    raw = gzip.decompress(img_path.read_bytes())
    with pytest.raises(DataError, match="header says"):
        data.read_idx(raw[:-10])
    with pytest.raises(DataError, match="unsigned-byte IDX"):
        data.read_idx(b"\x01\x02\x03\x04" + raw[4:])


def test_load_valid_folder(fake_dataset):
    folder, arrays = fake_dataset
    train = data.load_fashion_mnist("train", folder=folder)
    assert train.images.shape == (12, 784) and train.images.dtype == torch.float32
    assert train.labels.dtype == torch.int64
    assert float(train.images.min()) >= 0.0 and float(train.images.max()) <= 1.0
    expected = arrays["train-images-idx3-ubyte.gz"].reshape(12, -1) / 255.0
    np.testing.assert_allclose(train.images.numpy(), expected, atol=1e-7)
    np.testing.assert_array_equal(train.labels.numpy(), arrays["train-labels-idx1-ubyte.gz"])
    assert len(data.load_fashion_mnist("test", folder=folder)) == 4


def test_second_call_is_cached(fake_dataset):
    folder, _ = fake_dataset
    first = data.load_fashion_mnist("train", folder=folder)
    assert data.load_fashion_mnist("train", folder=folder) is first


def test_env_var_is_used(fake_dataset, monkeypatch):
    folder, _ = fake_dataset
    monkeypatch.setenv(data.ENV_VAR, str(folder))
    assert data.find_data_dir() == folder
    assert len(data.load_fashion_mnist("test", download_if_missing=False)) == 4


def test_corrupted_file_is_refused(fake_dataset):
    folder, _ = fake_dataset
    name = "train-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress((folder / name).read_bytes()))
    raw[100] ^= 0xFF  # one flipped byte, still a valid gzip stream
    (folder / name).write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError) as err:
        data.load_fashion_mnist("train", folder=folder)
    msg = str(err.value)
    assert name in msg and "checksum" in msg and "apt-get install dataset-fashion-mnist" in msg


def test_truncated_file_is_refused(fake_dataset):
    folder, _ = fake_dataset
    name = "t10k-images-idx3-ubyte.gz"
    blob = (folder / name).read_bytes()
    (folder / name).write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="corrupted or truncated") as err:
        data.load_fashion_mnist("test", folder=folder)
    assert name in str(err.value)


def test_missing_everywhere_gives_three_ways(fake_dataset, tmp_path, monkeypatch):
    with pytest.raises(DataError) as err:
        data.load_fashion_mnist("train", download_if_missing=False)
    msg = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "python -m aevae.data" in msg
    assert data.ENV_VAR in msg


def test_missing_with_failed_download_is_clear(fake_dataset, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data.urllib.request, "urlopen", no_network)
    with pytest.raises(DataError, match="download failed") as err:
        data.load_fashion_mnist("train")
    assert "apt-get install dataset-fashion-mnist" in str(err.value)
    # nothing partial left in the cache
    cache = data.cache_dir()
    assert not cache.exists() or not any(cache.iterdir())


def test_download_verifies_then_renames(fake_dataset, monkeypatch):
    folder, _ = fake_dataset
    served = {name: (folder / name).read_bytes() for name in data.FILES}
    served["t10k-labels-idx1-ubyte.gz"] = gzip.compress(b"\x00\x00\x08\x01garbage")

    class Resp:
        def __init__(self, blob):
            self.blob, self.pos = blob, 0

        def read(self, n):
            chunk = self.blob[self.pos : self.pos + n]
            self.pos += n
            return chunk

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: Resp(served[url.rsplit("/", 1)[1]]))
    dest = folder.parent / "downloaded"
    with pytest.raises(DataError, match="discarded"):
        data.download(dest, base_url="http://example.invalid/")
    names = sorted(p.name for p in dest.iterdir())
    assert "t10k-labels-idx1-ubyte.gz" not in names  # the bad file was never renamed into place
    assert not any(n.endswith(".part") for n in names)  # and no partial file is left
    served["t10k-labels-idx1-ubyte.gz"] = (folder / "t10k-labels-idx1-ubyte.gz").read_bytes()
    data.download(dest, base_url="http://example.invalid/")
    assert sorted(p.name for p in dest.iterdir()) == sorted(data.FILES)


def test_explicit_folder_missing_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.find_data_dir(tmp_path / "nowhere")
    with pytest.raises(DataError, match="lacks"):
        data.find_data_dir(tmp_path)


def test_bad_split_name(fake_dataset):
    folder, _ = fake_dataset
    with pytest.raises(DataError, match="'train' or 'test'"):
        data.load_fashion_mnist("validation", folder=folder)


def test_binarize():
    x = torch.tensor([[0.0, 1.0, 0.5]]).repeat(2000, 1)
    b = data.binarize(x, torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert b[:, 0].sum() == 0 and b[:, 1].sum() == 2000
    assert abs(float(b[:, 2].mean()) - 0.5) < 0.05
    with pytest.raises(ValueError):
        data.binarize(torch.tensor([1.5]))


@pytest.mark.skipif(data.find_data_dir() is None, reason="real Fashion-MNIST not installed")
def test_real_fashion_mnist():
    train = data.load_fashion_mnist("train")
    test = data.load_fashion_mnist("test")
    assert train.images.shape == (60000, 784) and test.images.shape == (10000, 784)
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10


def test_digits_28_out_of_distribution_set():
    d = data.load_digits_28()
    assert d.images.shape == (1797, 784) and d.images.dtype == torch.float32
    assert float(d.images.min()) >= 0 and float(d.images.max()) <= 1
    frame = d.images.reshape(-1, 28, 28)
    assert float(frame[:, :4].abs().sum()) == 0 and float(frame[:, :, -4:].abs().sum()) == 0  # MNIST-like border
    assert sorted(d.labels.unique().tolist()) == list(range(10))


def test_an_explicit_folder_is_binding_never_a_silent_fallback(fake_dataset, tmp_path, monkeypatch):
    """$AEVAE_DATA (or the folder argument) that does not exist or lacks a file is an error naming it and
    the fix, even when a good copy sits in the cache."""
    import shutil

    folder, _ = fake_dataset
    cache = data.cache_dir()
    shutil.copytree(folder, cache)  # a good copy the loader must not fall back to
    partial = tmp_path / "partial"
    shutil.copytree(folder, partial)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv(data.ENV_VAR, str(partial))
    for call in (lambda: data.load_fashion_mnist("test"), data.find_data_dir, data.main):
        with pytest.raises(DataError) as err:
            call()
        msg = str(err.value)
        assert str(partial) in msg and "$AEVAE_DATA" in msg and "lacks t10k-labels-idx1-ubyte.gz" in msg
        assert "unset AEVAE_DATA" in msg
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"nowhere \(from \$AEVAE_DATA\) does not exist"):
        data.load_fashion_mnist("train", download_if_missing=True)
    with pytest.raises(DataError, match=r"partial \(from the folder argument\) lacks"):
        data.load_fashion_mnist("test", folder=partial)  # the argument wins over $AEVAE_DATA, and binds too
    monkeypatch.delenv(data.ENV_VAR)
    assert data.find_data_dir() == cache  # without an explicit folder, the cache is used
