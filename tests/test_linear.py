import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA as SkPCA
from sklearn.metrics import r2_score as sk_r2

from aevae.linear import (
    LINEAR_TRAIN,
    column_cosines,
    decoder_matrix,
    decoder_singular_vectors,
    encoder_matrix,
    fit_linear_map,
    fit_stages,
    linear_ae,
    matched_cosines,
    nearest_component_cosines,
    off_diagonal,
    principal_directions_in_span,
    r2_score,
    set_linear_weights,
    step_decay,
)
from aevae.models import Autoencoder, NetConfig
from aevae.objectives import ae_loss
from aevae.pca import fit_pca, principal_angles
from aevae.train import TrainConfig

D, K = 12, 3


@pytest.fixture
def data():
    """Centred data with a well-separated spectrum (standard deviations 3, 2, 1.5, then small)."""
    g = torch.Generator().manual_seed(0)
    scales = torch.tensor([3.0, 2.0, 1.5] + [0.3 - 0.02 * i for i in range(D - 3)], dtype=torch.float64)
    rot, _ = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))
    x = (torch.randn(3000, D, generator=g, dtype=torch.float64) * scales) @ rot.T
    return x - x.mean(0)


def _random_invertible(k, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, k, generator=g, dtype=torch.float64) + 2 * torch.eye(k, dtype=torch.float64)


def test_linear_ae_is_one_affine_map_each_way():
    model = linear_ae(K, input_dim=D)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(D, K), (K, D)]
    assert decoder_matrix(model).shape == (D, K) and encoder_matrix(model).shape == (K, D)
    x = torch.randn(5, D)
    out = model(x)
    ref = x @ model.encoder.head.weight.T + model.encoder.head.bias
    torch.testing.assert_close(out.z, ref)
    torch.testing.assert_close(out.x_hat, ref @ model.decoder.net[0].weight.T + model.decoder.net[0].bias)
    with pytest.raises(ValueError, match="linear AE"):
        decoder_matrix(Autoencoder(NetConfig(input_dim=D, hidden=(4,), latent_dim=K)))


def test_pca_is_a_linear_ae_and_any_invertible_mix_is_too(data):
    """PCA's encoder/decoder plugged into the AE give sklearn's reconstruction; W_d C, C^-1 W_e as well."""
    pca = fit_pca(data)
    u = pca.components[:, :K]
    model = linear_ae(K, input_dim=D).double()
    set_linear_weights(model, u.T, u)
    sk = SkPCA(K).fit(data.numpy())
    ref = sk.inverse_transform(sk.transform(data.numpy()))
    with torch.no_grad():
        np.testing.assert_allclose(model(data).x_hat.numpy(), ref, atol=1e-10)
        c = _random_invertible(K)
        set_linear_weights(model, torch.linalg.inv(c) @ u.T, u @ c)
        np.testing.assert_allclose(model(data).x_hat.numpy(), ref, atol=1e-9)
    with pytest.raises(ValueError, match="expected W_e"):
        set_linear_weights(model, u, u)
    # Same subspace, not the same basis: angles zero, columns neither orthogonal nor single PCs.
    w = decoder_matrix(model)
    assert principal_angles(w, u).max() < 1e-6
    assert off_diagonal(column_cosines(w)).abs().max() > 0.1
    assert nearest_component_cosines(w, pca.components).min() < 0.99


def test_column_and_component_cosines_on_known_answers():
    e = torch.eye(4, dtype=torch.float64)
    w = torch.stack([e[:, 0] * 5, (e[:, 0] + e[:, 1]) * 2], dim=1)  # second column at 45 degrees
    cc = column_cosines(w)
    torch.testing.assert_close(cc, torch.tensor([[1.0, 2**-0.5], [2**-0.5, 1.0]], dtype=torch.float64))
    torch.testing.assert_close(off_diagonal(cc), torch.tensor([2**-0.5, 2**-0.5], dtype=torch.float64))
    torch.testing.assert_close(nearest_component_cosines(w, e), torch.tensor([1.0, 2**-0.5], dtype=torch.float64))
    torch.testing.assert_close(nearest_component_cosines(-w, e), torch.tensor([1.0, 2**-0.5], dtype=torch.float64))
    torch.testing.assert_close(matched_cosines(w, e), torch.tensor([1.0, 2**-0.5], dtype=torch.float64))
    with pytest.raises(ValueError, match="square"):
        off_diagonal(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="zero"):
        column_cosines(torch.zeros(3, 2))


def test_fit_linear_map_and_r2_match_least_squares_and_sklearn():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, generator=g, dtype=torch.float64)
    a = torch.randn(3, 2, generator=g, dtype=torch.float64)
    b = torch.tensor([0.5, -1.0], dtype=torch.float64)
    y = x @ a + b
    fitted = fit_linear_map(x, y)
    torch.testing.assert_close(fitted.A, a)
    torch.testing.assert_close(fitted.b, b)
    assert r2_score(fitted(x), y) == pytest.approx(1.0, abs=1e-12)
    noisy = y + torch.randn(200, 2, generator=g, dtype=torch.float64) * torch.tensor([0.1, 2.0], dtype=torch.float64)
    pred = fit_linear_map(x, noisy)(x)
    assert r2_score(pred, noisy) == pytest.approx(sk_r2(noisy.numpy(), pred.numpy(), multioutput="variance_weighted"))
    ref = np.linalg.lstsq(np.c_[x.numpy(), np.ones(200)], noisy.numpy(), rcond=None)[0]
    np.testing.assert_allclose(fit_linear_map(x, noisy).A.numpy(), ref[:-1], atol=1e-10)
    with pytest.raises(ValueError, match="same N"):
        fit_linear_map(x, y[:10])
    with pytest.raises(ValueError, match="shapes differ"):
        r2_score(pred, noisy[:, :1])


def test_decoder_svd_recovers_components_only_in_the_regularised_form(data):
    pca = fit_pca(data)
    u = pca.components[:, :K]
    g = torch.Generator().manual_seed(2)
    rot, _ = torch.linalg.qr(torch.randn(K, K, generator=g, dtype=torch.float64))
    # Kunin et al. (2019): at a minimum of the L2-regularised loss W_d = U_k diag(s) O with distinct s.
    w_reg = u @ torch.diag(torch.tensor([0.95, 0.8, 0.6], dtype=torch.float64)) @ rot
    vecs, s = decoder_singular_vectors(w_reg)
    torch.testing.assert_close(s, torch.tensor([0.95, 0.8, 0.6], dtype=torch.float64))
    assert matched_cosines(vecs, u).min() > 1 - 1e-10
    # Unregularised: W_d = U_k C for any invertible C; its singular vectors are a rotation of U_k.
    vecs, _ = decoder_singular_vectors(u @ _random_invertible(K))
    assert principal_angles(vecs, u).max() < 1e-6
    assert matched_cosines(vecs, u).min() < 0.99


def test_principal_directions_in_span_recovers_pca_from_any_basis(data):
    pca = fit_pca(data)
    u = pca.components[:, :K]
    for seed in (1, 2, 3):
        vecs, var = principal_directions_in_span(u @ _random_invertible(K, seed), data)
        assert matched_cosines(vecs, u).min() > 1 - 1e-10
        torch.testing.assert_close(var, pca.explained_variance[:K])
        np.testing.assert_allclose(var.numpy(), SkPCA(K).fit(data.numpy()).explained_variance_, rtol=1e-10)
        torch.testing.assert_close(vecs.T @ vecs, torch.eye(K, dtype=torch.float64))


def test_step_decay_and_fit_stages(data):
    stages = step_decay(TrainConfig(batch_size=64, seed=5, weight_decay=1e-4), (1e-2, 1e-3), epochs_per_stage=2)
    assert [(c.lr, c.seed, c.epochs, c.batch_size, c.weight_decay) for c in stages] == [
        (1e-2, 5, 2, 64, 1e-4), (1e-3, 6, 2, 64, 1e-4)]
    assert [c.lr for c in LINEAR_TRAIN] == sorted((c.lr for c in LINEAR_TRAIN), reverse=True)
    with pytest.raises(ValueError, match="at least one"):
        step_decay(TrainConfig(), (), 1)

    x = data.float()
    seen = []

    def run():
        torch.manual_seed(0)
        model = linear_ae(K, input_dim=D)
        plan = step_decay(TrainConfig(batch_size=100, seed=0), (1e-2, 3e-3, 1e-3), epochs_per_stage=10)
        hist = fit_stages(model, ae_loss, x, plan, after_stage=lambda i, m: seen.append(i))
        return model, hist

    model, hist = run()
    assert seen == [0, 1, 2]
    assert len(hist.loss) == 30 and hist.steps == 30 * 30 and hist.seconds > 0
    pca = fit_pca(x)
    with torch.no_grad():
        mse = float(((model(x).x_hat - x) ** 2).mean())
    assert mse == pytest.approx(pca.mse(x, K), rel=0.02)  # gradient descent reaches PCA's error
    assert principal_angles(decoder_matrix(model), pca.components[:, :K]).max() < 0.05  # radians
    model2, hist2 = run()
    assert hist2.loss == hist.loss  # deterministic


def test_train_linear_ae_is_fit_stages_on_one_thread_in_any_process(data):
    """Chapter 2's parallel trainings: the same weights and curve as fit_stages run here on one thread,
    and the same again from a worker process."""
    from aevae.jobs import parallel_map
    from aevae.linear import train_linear_ae

    x = data.float()
    plan = step_decay(TrainConfig(batch_size=100, seed=0), (1e-2, 1e-3), epochs_per_stage=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(4)
        ref = linear_ae(K, input_dim=D)
        w0 = decoder_matrix(ref)
        ref_hist = fit_stages(ref, ae_loss, x[:2000], plan)
    finally:
        torch.set_num_threads(threads)
    run = train_linear_ae(K, x[:2000], x[2000:], plan, seed=4)
    assert torch.get_num_threads() == threads
    assert torch.equal(run.w_init, w0) and run.history.loss == ref_hist.loss
    assert all(torch.equal(v, ref.state_dict()[k]) for k, v in run.model.state_dict().items())
    with torch.no_grad():
        test_mse = float(((ref(x[2000:]).x_hat - x[2000:]) ** 2).mean())
    assert len(run.curve) == 2 and run.curve[-1][0] == pytest.approx(test_mse, rel=1e-5)
    remote = parallel_map(train_linear_ae, [(K, x[:2000], x[2000:], plan, 4), (2, x[:2000], x[2000:], plan, 4)], n_jobs=2)
    assert remote[0].history.loss == run.history.loss and torch.equal(remote[0].w_init, run.w_init)
    from_numpy = train_linear_ae(K, x[:2000].numpy(), x[2000:].numpy(), plan, seed=4)
    assert from_numpy.history.loss == run.history.loss
    with pytest.raises(ValueError, match="train_linear_ae: x_test"):
        train_linear_ae(K, x[:2000], x[2000:, :5], plan)
