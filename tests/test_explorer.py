"""aevae.explorer without a browser: the weights' export, the HTML's self-containment and the numpy twin
of the page's forward pass (the browser itself is tests/test_explorer_browser.py)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from torch import nn

from aevae.config import book_net
from aevae.explorer import (
    PRECISIONS,
    Explorer,
    decode_layers,
    decoder_weights,
    encode_layers,
    explorer_html,
    forward,
    standalone_page,
)
from aevae.models import Autoencoder, Decoder, NetConfig
from aevae.vae_eval import GaussianVAE


@pytest.fixture(scope="module")
def models(k2_models):
    return k2_models


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 300
    labels = rng.integers(0, 10, n)
    return 5 * rng.normal(size=(n, 2)), rng.normal(size=(n, 2)), labels, rng.random((n, 784))


def _codes(n=200, scale=3.0, seed=0):
    return (scale * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))).float()


def _payload(page: str) -> dict:
    return json.loads(page.split("window.aevaeExplorerLib.create(", 1)[1].split(", ", 1)[1].rsplit(");", 1)[0])


# ------------------------------------------------------------------------------------------- weights
def test_decoder_weights_reads_the_layers_and_the_output_nonlinearity(models):
    ae, vae = models
    for model in models:
        layers = decoder_weights(model)
        assert [layer["weight"].shape for layer in layers] == [(256, 2), (512, 256), (784, 512)]
        assert [layer["activation"] for layer in layers] == ["relu", "relu", "sigmoid"]
        assert all(layer["weight"].dtype == np.float32 and layer["bias"].dtype == np.float32 for layer in layers)
        np.testing.assert_array_equal(layers[0]["weight"], model.decoder.net[0].weight.detach().numpy())
    assert decoder_weights(ae.decoder)[-1]["activation"] == "identity"  # a bare Decoder: its raw output
    assert decoder_weights(vae, output="identity")[-1]["activation"] == "identity"  # the logits
    linear = Autoencoder(NetConfig(input_dim=4, hidden=(), latent_dim=2, activation="identity", output="identity"))
    assert [layer["activation"] for layer in decoder_weights(linear)] == ["identity"]
    elu = nn.Sequential(nn.Linear(2, 3), nn.ELU(), nn.Linear(3, 4), nn.Tanh())
    assert [layer["activation"] for layer in decoder_weights(elu)] == ["elu", "tanh"]


def test_decoder_weights_refuses_what_it_cannot_export():
    with pytest.raises(TypeError, match="cannot export a Dropout"):
        decoder_weights(nn.Sequential(nn.Linear(2, 3), nn.Dropout()))
    with pytest.raises(TypeError, match="expected an Autoencoder"):
        decoder_weights(nn.Linear(2, 3))
    with pytest.raises(ValueError, match="ELU"):
        decoder_weights(nn.Sequential(nn.Linear(2, 3), nn.ELU(alpha=0.5)))
    with pytest.raises(ValueError, match="output must be"):
        decoder_weights(Decoder(book_net(2)), output="softmax")
    with pytest.raises(ValueError, match="already has an activation"):
        decoder_weights(nn.Sequential(nn.Linear(2, 3), nn.Sigmoid()), output="sigmoid")


@pytest.mark.parametrize("precision", PRECISIONS)
def test_the_weights_round_trip(models, precision):
    layers = decoder_weights(models[1])
    encoded = encode_layers(layers, precision)
    json.dumps(encoded)  # what goes into the page
    back = decode_layers(encoded)
    for a, b in zip(layers, back):
        assert a["activation"] == b["activation"]
        np.testing.assert_array_equal(b["bias"], a["bias"])  # biases always float32
        want = a["weight"] if precision == "float32" else a["weight"].astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(b["weight"], want)
    with pytest.raises(ValueError, match="precision"):
        encode_layers(layers, "int8")
    with pytest.raises(ValueError, match="finite"):
        encode_layers([{"weight": np.full((2, 2), np.nan), "bias": np.zeros(2), "activation": "relu"}])


# ------------------------------------------------------------------------------------ forward pass
@pytest.mark.parametrize("precision, tolerance", [("float32", 1e-5), ("float16", 1 / 255)])
def test_the_pages_forward_pass_matches_the_torch_decoders(models, precision, tolerance):
    """forward() is the JavaScript forward pass line for line (float32 or float16-rounded weights, float64
    sums); against each model's mean image, at codes well beyond the maps."""
    ae, vae = models
    z = _codes(400, scale=4.0)
    with torch.no_grad():
        want = {"ae": ae.decode(z).numpy(), "vae": torch.sigmoid(vae.decode(z)).numpy()}
    for name, model in (("ae", ae), ("vae", vae)):
        got = forward(decode_layers(encode_layers(decoder_weights(model), precision)), z.numpy())
        assert got.shape == (400, 784)
        assert np.abs(got - want[name]).max() < tolerance, name


def test_forward_matches_other_activations_and_the_gaussian_vae():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(2, 16), nn.ELU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 9))
    z = _codes(50)
    with torch.no_grad():
        np.testing.assert_allclose(forward(decoder_weights(seq), z.numpy()), seq(z).numpy(), atol=1e-5)
    gvae = GaussianVAE(book_net(2))
    with torch.no_grad():
        want = torch.sigmoid(gvae.decode(z)).numpy()  # its mean image
    np.testing.assert_allclose(forward(decoder_weights(gvae), z.numpy()), want, atol=1e-5)


# -------------------------------------------------------------------------------------------- page
def test_the_html_is_self_contained(models, data):
    page = explorer_html(*models, *data[:3], images=data[3])
    assert "://" not in page  # no http(s)://, no protocol-relative URL (':' is not in the base64 alphabet)
    for token in ("src=", "href=", "url(", "@import", "fetch(", "XMLHttpRequest", "import(", "<link", "<iframe"):
        assert token not in page, token
    assert page.count("<script") == 1 and page.count("</script>") == 1
    tricky = explorer_html(*models, *data[:3], class_names=["</script><b>"] + [str(i) for i in range(9)])
    assert tricky.count("</script>") == 1 and _payload(tricky)["classes"][0] == "</script><b>"
    full = standalone_page(page)
    assert "://" not in full and full.startswith("<!DOCTYPE html>")


def test_the_payload(models, data):
    codes_ae, codes_vae, labels, images = data
    page = explorer_html(*models, codes_ae, codes_vae, labels, images=images, n_points=100, pair=(3, 7),
                         class_names=[f"c{i}" for i in range(10)])
    d = _payload(page)
    assert d["names"] == ["AE", "VAE"] and d["side"] == 28 and d["pair"] == [3, 7]
    assert d["pairLabels"] == [f"c{labels[3]}", f"c{labels[7]}"]
    np.testing.assert_allclose(d["pairCodes"][0], codes_ae[[3, 7]])
    np.testing.assert_allclose(d["pairCodes"][1], codes_vae[[3, 7]])
    assert len(d["pairImages"]) == 2
    for net, model in zip(d["nets"], models):  # the page's weights are the models' (float16 by default)
        for enc, layer in zip(decode_layers(net), decoder_weights(model)):
            np.testing.assert_array_equal(enc["weight"], layer["weight"].astype(np.float16).astype(np.float32))
    import base64
    shown = np.frombuffer(base64.b64decode(d["codes"][1]), "<f4").reshape(-1, 2)
    assert shown.shape == (100, 2)
    assert all(any(np.allclose(s, c) for c in codes_vae.astype(np.float32)) for s in shown[:10])
    for lo_hi in d["extents"]:
        assert lo_hi[0] < lo_hi[1] and lo_hi[2] < lo_hi[3]
    default = _payload(explorer_html(*models, codes_ae, codes_vae, labels))
    assert labels[default["pair"][0]] != labels[default["pair"][1]] and default["pairImages"] is None


def test_element_ids_are_unique_and_scoped(models, data):
    a = explorer_html(*models, *data[:3])
    b = explorer_html(*models, *data[:3])
    ids = [re.findall(r'\bid="([^"]+)"', page) for page in (a, b)]
    assert len(ids[0]) == 1 and len(ids[1]) == 1 and ids[0] != ids[1]
    for page, (eid,) in zip((a, b), ids):
        css = re.findall(r"^(#[^ {]+)", page.split("<style>")[1].split("</style>")[0], flags=re.M)
        assert css and set(css) == {f"#{eid}"}  # every style rule is scoped to this explorer
    assert 'id="mine"' in explorer_html(*models, *data[:3], element_id="mine")


def test_the_explorer_object(models, data):
    ex = Explorer(*models, *data[:3], n_points=50)
    assert ex._repr_html_() == ex.html and ex.nbytes == len(ex.html.encode())
    assert "MB of HTML" in repr(ex)
    # the weight: two 2-512-256-784 decoders at 2 bytes a weight, base64 (4/3) — about 2.9 MB
    n_weights = sum(p.numel() for m in models for n, p in m.decoder.named_parameters() if n.endswith("weight"))
    assert n_weights * 2 * 4 / 3 < ex.nbytes < n_weights * 2 * 4 / 3 * 1.05
    assert Explorer(*models, *data[:3], precision="float32").nbytes > 1.9 * ex.nbytes


def test_bad_inputs_are_refused(models, data):
    codes_ae, codes_vae, labels, images = data
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        explorer_html(*models, codes_ae[:10], codes_vae, labels)
    with pytest.raises(ValueError, match="dimension"):
        explorer_html(*models, codes_ae, codes_vae, labels[:, None])
    with pytest.raises(ValueError, match="images"):
        explorer_html(*models, codes_ae, codes_vae, labels, images=images[:, :100])
    with pytest.raises(ValueError, match="pair"):
        explorer_html(*models, codes_ae, codes_vae, labels, pair=(0, 10_000))
    with pytest.raises(ValueError, match="class names"):
        explorer_html(*models, codes_ae, codes_vae, labels, class_names=["a", "b"])
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="2-D"):
        explorer_html(Autoencoder(book_net(16)), models[1], codes_ae, codes_vae, labels)
