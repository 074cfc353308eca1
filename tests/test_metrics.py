import numpy as np
import pytest
import torch
from scipy import linalg

from aevae.metrics import (
    EvalClassifier,
    auroc,
    frechet_distance,
    knn_accuracy,
    linear_probe,
    precision_recall,
    train_eval_classifier,
)


def _gauss(n, d, shift=0.0, scale=1.0, seed=0):
    return np.random.default_rng(seed).normal(shift, scale, size=(n, d))


def test_frechet_matches_scipy_sqrtm():
    a = _gauss(400, 5, seed=0) @ np.diag([1, 2, 3, 0.5, 1])
    b = _gauss(300, 5, shift=0.3, seed=1)
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((mu_a - mu_b) ** 2).sum() + np.trace(sa + sb - 2 * linalg.sqrtm(sa @ sb).real)
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)


def test_frechet_zero_for_identical_and_grows_with_shift():
    a = _gauss(500, 4)
    assert abs(frechet_distance(a, a)) < 1e-8
    assert frechet_distance(a, a + 1.0) == pytest.approx(4.0, rel=1e-6)  # ||shift||^2
    with pytest.raises(ValueError, match="same F"):
        frechet_distance(a, a[:, :3])


def test_precision_recall_known_cases():
    real = _gauss(600, 3, seed=0)
    same = _gauss(600, 3, seed=1)
    p, r = precision_recall(real, same, k=3)
    assert p > 0.9 and r > 0.9
    far = _gauss(600, 3, shift=20.0, seed=2)
    p, r = precision_recall(real, far, k=3)
    assert p == 0.0 and r == 0.0
    collapsed = real[:1].repeat(600, 0) + 1e-3 * _gauss(600, 3, seed=3)  # realistic but no diversity
    p, r = precision_recall(real, collapsed, k=3)
    assert p > 0.9 and r < 0.1
    with pytest.raises(ValueError, match="k must be"):
        precision_recall(real, same, k=0)


def test_probes_and_auroc():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=900)
    z = np.eye(3)[y] * 3 + rng.normal(size=(900, 3)) * 0.3  # well separated classes
    assert linear_probe(z[:600], y[:600], z[600:], y[600:]) > 0.95
    assert knn_accuracy(z[:600], y[:600], z[600:], y[600:]) > 0.95
    noise = rng.normal(size=(900, 3))
    assert linear_probe(noise[:600], y[:600], noise[600:], y[600:]) < 0.5
    assert auroc([0, 1, 2], [3, 4, 5]) == 1.0
    assert auroc([3, 4, 5], [0, 1, 2]) == 0.0
    assert auroc(rng.normal(size=2000), rng.normal(size=2000)) == pytest.approx(0.5, abs=0.05)


def test_eval_classifier_trains_deterministically():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (300,), generator=g)
    centres = torch.randn(3, 20, generator=g) * 3
    x = (centres[y] + torch.randn(300, 20, generator=g)).sigmoid()
    a = train_eval_classifier(x[:200], y[:200], x[200:], y[200:], epochs=5, seed=1)
    b = train_eval_classifier(x[:200], y[:200], x[200:], y[200:], epochs=5, seed=1)
    assert a.test_accuracy == b.test_accuracy > 0.9
    assert torch.equal(a.features(x[:5]), b.features(x[:5]))
    assert a.features(x[:5]).shape == (5, 256)
    assert isinstance(a.model, EvalClassifier)


def test_the_classifier_job_trains_what_train_eval_classifier_trains(monkeypatch):
    """The cached job (chapters 3-5) is the same training as train_eval_classifier on one thread."""
    from aevae import jobs as J
    from aevae.config import book_net
    from aevae.data import load_fashion_mnist
    from aevae.metrics import ClassifierConfig, classifier_from, eval_classifier_job

    monkeypatch.setenv("AEVAE_CACHE", "off")
    job = eval_classifier_job(epochs=1, seed=2)
    job = J.TrainJob(job.model, job.config, job.loss, J.DataSpec("fashion-mnist-labelled", first=1000), job.train,
                     init_seed=job.init_seed)
    result = J.run_jobs([job], n_jobs=1)[0]
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = train_eval_classifier(train.images[:1000], train.labels[:1000], test.images[:500], test.labels[:500],
                                    epochs=1, seed=2)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(v, result.state_dict[k]) for k, v in ref.model.state_dict().items())
    clf = classifier_from(result, test.images[:500], test.labels[:500])
    assert clf.test_accuracy == ref.test_accuracy
    assert ClassifierConfig() == ClassifierConfig(784, (512, 256), 10)
    ae = J.JobResult(J.TrainJob("ae", book_net(2), "ae"), {}, result.history)
    with pytest.raises(ValueError, match="classifier_from: result must be the JobResult of eval_classifier_job"):
        classifier_from(ae, test.images[:5], test.labels[:5])
    with pytest.raises(ValueError, match="classifier_from: the test images and labels"):
        classifier_from(result, test.images[:5], test.labels[:4])


def test_sample_quality_many_equals_sample_quality_per_set():
    from aevae.metrics import EvalClassifier, TrainedClassifier, sample_quality, sample_quality_many

    torch.manual_seed(0)
    clf = TrainedClassifier(EvalClassifier().eval(), 0.0, 0.0)
    real = torch.rand(60, 784)
    sets = {"a": torch.rand(60, 784), "b": torch.rand(60, 784) * 0.5}
    many = sample_quality_many(clf, real, sets)
    for name, images in sets.items():
        assert many[name] == sample_quality(clf, real, images)
