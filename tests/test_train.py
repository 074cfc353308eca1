import pytest
import torch

from aevae.book import seed_everything
from aevae.models import Autoencoder, NetConfig
from aevae.objectives import ae_loss
from aevae.train import NonFiniteLossError, TrainConfig, fit

CFG = NetConfig(input_dim=10, hidden=(8,), latent_dim=2)


def _data():
    return torch.rand(64, 10, generator=torch.Generator().manual_seed(0))


def _train(seed):
    torch.manual_seed(123)
    model = Autoencoder(CFG)
    hist = fit(model, ae_loss, _data(), TrainConfig(epochs=3, batch_size=16, seed=seed))
    return model, hist


def test_training_reduces_loss_and_is_deterministic():
    m1, h1 = _train(0)
    m2, h2 = _train(0)
    assert h1.loss == h2.loss
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    assert h1.loss[-1] < h1.loss[0]
    assert h1.steps == 3 * 4
    _, h3 = _train(1)
    assert h3.loss != h1.loss  # the seed matters (shuffling)


def test_non_finite_loss_stops_with_a_clear_message():
    model = Autoencoder(CFG)

    def exploding(model, x, gen):
        return ae_loss(model, x) * float("inf")

    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 1.*lower the learning rate"):
        fit(model, exploding, _data(), TrainConfig(epochs=1))


def test_bad_inputs():
    model = Autoencoder(CFG)
    bad = _data().clone()
    bad[3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fit(model, ae_loss, bad, TrainConfig(epochs=1))
    with pytest.raises(ValueError, match="non-empty"):
        fit(model, ae_loss, torch.zeros(0, 10), TrainConfig(epochs=1))
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)


def test_seed_everything_is_deterministic_and_validates():
    seed_everything(3)
    a = torch.rand(5)
    seed_everything(3)
    assert torch.equal(a, torch.rand(5))
    with pytest.raises(ValueError, match="non-negative int"):
        seed_everything(-1)
    with pytest.raises(ValueError, match="non-negative int"):
        seed_everything(1.5)


def test_parameters_that_become_non_finite_stop_training_with_a_clear_message():
    import pytest
    import torch

    from aevae.models import VAE, NetConfig
    from aevae.objectives import vae_loss
    from aevae.train import NonFiniteLossError, TrainConfig, fit

    torch.manual_seed(0)
    model = VAE(NetConfig(input_dim=20, hidden=(8,), latent_dim=2))
    x = (torch.rand(256, 20) > 0.5).float()
    with pytest.raises(NonFiniteLossError, match="lower the learning rate"):
        fit(model, vae_loss, x, TrainConfig(epochs=20, batch_size=32, lr=1e12))
