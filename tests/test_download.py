"""The download path of aevae.data, offline: a local HTTP server on 127.0.0.1 (http.server in a thread)
serves four small valid IDX files whose SHA-256 are injected as the pinned ones, then a corrupted file, then
a connection dropped in the middle of a file. A good download verifies and loads; a bad one is refused with
an error naming the URL, and nothing unverified or partial is left in the cache."""

from __future__ import annotations

import gzip
import http.server
import threading

import numpy as np
import pytest

from aevae import data
from aevae.data import DataError

from conftest import fake_fashion_arrays, pin_fake_fashion

NAMES = list(data.FILES)


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files[name]``; ``server.mode[name]`` may be 'drop' (declare the full length, send
    half, close), 'cut' (no length, send half, close) or 'missing' (404)."""

    def do_GET(self):  # noqa: N802
        name = self.path.lstrip("/")
        self.server.requests.append(name)
        blob, mode = self.server.files.get(name), self.server.mode.get(name)
        if blob is None or mode == "missing":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if mode != "cut":
            self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        if mode in ("drop", "cut"):
            self.wfile.write(blob[: len(blob) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(blob)

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Four small valid files, pinned; a server on 127.0.0.1 serving them; an empty cache; no other copy."""
    arrays = fake_fashion_arrays(7, 10, 3)
    files = pin_fake_fashion(arrays, monkeypatch, tmp_path)
    for var in ("no_proxy", "NO_PROXY"):  # a proxy set in the environment must not see 127.0.0.1
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.files, httpd.mode, httpd.requests = files, {}, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    monkeypatch.setattr(data, "BASE_URL", url)
    yield httpd, url, arrays
    httpd.shutdown()
    httpd.server_close()


def _left(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _assert_only_verified(folder):
    """Every file left in the cache is one of the four and verifies; no temporary file remains."""
    for name in _left(folder):
        assert name in data.FILES, f"{name} left in {folder}"
        data.verified_bytes(folder / name)


def test_good_download_verifies_and_loads(server):
    httpd, url, arrays = server
    cache = data.cache_dir()
    assert data.find_data_dir() is None  # no copy anywhere: load_fashion_mnist downloads
    train = data.load_fashion_mnist("train")
    assert _left(cache) == sorted(NAMES)
    assert sorted(httpd.requests) == sorted(NAMES)
    np.testing.assert_array_equal((train.images.numpy() * 255).round().astype(np.uint8),
                                  arrays["train-images-idx3-ubyte.gz"].reshape(10, -1))
    assert len(data.load_fashion_mnist("test")) == 3
    data.download(cache)  # everything is there and verifies: nothing is fetched again
    assert len(httpd.requests) == 4


def test_corrupted_file_is_refused_and_nothing_is_left(server):
    httpd, url, _ = server
    name = NAMES[0]
    raw = bytearray(gzip.decompress(httpd.files[name]))
    raw[200] ^= 0xFF  # a valid gzip stream, the wrong content
    httpd.files[name] = gzip.compress(bytes(raw))
    cache = data.cache_dir()
    with pytest.raises(DataError, match="download failed") as err:
        data.load_fashion_mnist("train")
    msg = str(err.value)
    assert f"{url}{name}" in msg and "pinned checksum" in msg and "discarded" in msg
    assert _left(cache) == []  # the first file failed: nothing at all in the cache


def test_a_corrupted_later_file_leaves_only_verified_files(server):
    httpd, url, _ = server
    name = NAMES[2]
    httpd.files[name] = gzip.compress(b"\x00\x00\x08\x01" + b"\x00\x00\x00\x03" + b"abc")  # wrong content
    cache = data.cache_dir()
    with pytest.raises(DataError, match="pinned checksum"):
        data.download(cache, base_url=url)
    assert name not in _left(cache)
    _assert_only_verified(cache)


@pytest.mark.parametrize("mode", ["drop", "cut"])
def test_connection_dropped_mid_file_leaves_no_partial_file(server, mode):
    httpd, url, _ = server
    name = NAMES[0]  # the largest file
    httpd.mode[name] = mode
    cache = data.cache_dir()
    with pytest.raises(DataError) as err:
        data.download(cache, base_url=url)
    msg = str(err.value)
    assert f"{url}{name}" in msg or name in msg
    assert ("connection closed" in msg) if mode == "drop" else ("truncated or corrupted" in msg)
    assert "discarded" in msg or "Nothing was kept" in msg
    assert _left(cache) == []  # no .part file, no partial file
    httpd.mode.clear()  # the server recovers: a new download completes
    data.download(cache, base_url=url)
    assert _left(cache) == sorted(NAMES)
    _assert_only_verified(cache)


def test_missing_file_on_the_server_is_a_clear_error(server):
    httpd, url, _ = server
    httpd.mode[NAMES[3]] = "missing"
    cache = data.cache_dir()
    with pytest.raises(DataError, match=r"Could not download .*t10k-labels.*404"):
        data.download(cache, base_url=url)
    assert NAMES[3] not in _left(cache)
    _assert_only_verified(cache)


def test_an_explicit_folder_is_never_replaced_by_a_download(server, tmp_path, monkeypatch):
    httpd, url, _ = server
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "my-files"))
    with pytest.raises(DataError, match=r"my-files \(from \$AEVAE_DATA\) does not exist.*unset AEVAE_DATA"):
        data.load_fashion_mnist("train")
    assert httpd.requests == []  # nothing was downloaded instead
