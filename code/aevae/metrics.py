"""Evaluation shared by chapters 3, 4 and 7: how realistic images are, and how useful codes are.

Sample quality is measured in the feature space of a Fashion-MNIST classifier that the book trains
once per chapter, deterministically, in seconds (no downloaded weights):

- the Fréchet distance between Gaussians fitted to real and generated features (the construction of
  FID, Heusel et al. 2017, with this classifier instead of Inception; the numbers are *not* FID
  values and are only comparable within this book);
- precision and recall of Kynkäänniemi et al. (2019): the fraction of generated samples inside the
  k-NN balls of real samples (realism), and of real samples inside those of generated ones (coverage).

Codes are judged by a linear probe (multinomial logistic regression) and k-NN accuracy, and anomaly
scores by the area under the ROC curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import checks
from .models import mlp
from .train import TrainConfig, batched, fit

__all__ = [
    "EvalClassifier",
    "train_eval_classifier",
    "ClassifierConfig",
    "eval_classifier_job",
    "classifier_from",
    "classifier_loss",
    "frechet_distance",
    "precision_recall",
    "sample_quality",
    "sample_quality_many",
    "linear_probe",
    "knn_accuracy",
    "auroc",
]


class EvalClassifier(nn.Module):
    """An MLP classifier 784 -> 512 -> 256 -> 10; ``features`` is its 256-d penultimate layer."""

    def __init__(self, input_dim: int = 784, hidden: tuple[int, ...] = (512, 256), classes: int = 10):
        super().__init__()
        self.body = mlp([input_dim, *hidden], "relu")  # (B, D) -> (B, H)
        self.head = nn.Linear(hidden[-1], classes)

    def _input(self, x) -> torch.Tensor:
        x = checks.batch(x, self.body[0].in_features, "x", "the evaluation classifier")
        if x.dtype != self.head.weight.dtype:
            checks.fail("the evaluation classifier", "x", f"a {self.head.weight.dtype} tensor", checks.describe(x),
                        "x.float()", TypeError)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self._input(x))  # (B, H)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self._input(x)))  # (B, classes) logits


@dataclass(frozen=True)
class ClassifierConfig:
    """The evaluation classifier's shape: ``input_dim -> hidden -> classes`` (a job's config)."""

    input_dim: int = 784
    hidden: tuple[int, ...] = (512, 256)
    classes: int = 10


@dataclass
class TrainedClassifier:
    model: EvalClassifier
    test_accuracy: float
    seconds: float

    def features(self, x: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        device = next(self.model.parameters()).device
        return batched(self.model.features, x, device=device)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        device = next(self.model.parameters()).device
        return batched(self.model, x, device=device).argmax(1)


def train_eval_classifier(
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    epochs: int = 6,
    seed: int = 0,
    device=None,
) -> TrainedClassifier:
    """Train the evaluation classifier (deterministic for a given seed) and report its test accuracy.

    The classifier is trained on the images as they are: no augmentation (no jitter, no flips), plain
    cross-entropy with Adam (6 epochs, batch 128, learning rate 1e-3 by default).
    """
    where = "train_eval_classifier"
    if not isinstance(train_images, torch.Tensor) or train_images.ndim != 2:
        checks.fail(where, "train_images", "a floating-point tensor (N, D)", checks.describe(train_images),
                    "flatten images with x.reshape(len(x), -1)")
    dim = train_images.shape[1]
    train_images = checks.batch(train_images, dim, "train_images", where)
    test_images = checks.batch(test_images, dim, "test_images", where)
    for name, images, labels in (("train_labels", train_images, train_labels),
                                 ("test_labels", test_images, test_labels)):
        checks.tensor(labels, name, where, kind="int", ndim=1, dims="(N,)")
        checks.same_rows(images, labels, f"the images and {name}", where)
        if labels.numel() and (labels.min() < 0 or labels.max() >= 10):
            checks.fail(where, name, "class indices in [0, 10)", f"values from {int(labels.min())} to "
                        f"{int(labels.max())}", "Fashion-MNIST's labels are 0-9")
    if train_images.shape[0] == 0 or test_images.shape[0] == 0:
        checks.fail(where, "train_images and test_images", "non-empty", f"{train_images.shape[0]} and "
                    f"{test_images.shape[0]} images")
    checks.integer(epochs, "epochs", where)
    checks.integer(seed, "seed", where, minimum=0)
    torch.manual_seed(seed)
    model = EvalClassifier(input_dim=train_images.shape[1])
    data = torch.cat([train_images, train_labels[:, None].float()], 1)  # labels ride along as a column

    hist = fit(model, classifier_loss, data, TrainConfig(epochs=epochs, batch_size=128, lr=1e-3, seed=seed),
               device=device, desc="evaluation classifier")
    acc = float((TrainedClassifier(model, 0.0, 0.0).predict(test_images) == test_labels).float().mean())
    return TrainedClassifier(model, acc, hist.seconds)


def classifier_loss(model: nn.Module, batch: torch.Tensor, generator=None) -> torch.Tensor:
    """Cross-entropy, mean over the batch; ``batch`` (B, D + 1) carries the class index in its last column."""
    x, y = batch[:, :-1], batch[:, -1].long()  # (B, D), (B,)
    return nn.functional.cross_entropy(model(x), y)


def eval_classifier_job(epochs: int = 6, seed: int = 0):
    """The evaluation classifier as a training job (:mod:`aevae.jobs`): chapters 3, 4 and 5 share one
    training through the model cache, and it can train in parallel with a chapter's other jobs.
    Same recipe as :func:`train_eval_classifier` (Adam, batch 128, lr 1e-3), on one thread."""
    from .jobs import DataSpec, TrainJob

    checks.integer(epochs, "epochs", "eval_classifier_job")
    checks.integer(seed, "seed", "eval_classifier_job", minimum=0)
    return TrainJob("eval_classifier", ClassifierConfig(), "cross_entropy", DataSpec("fashion-mnist-labelled"),
                    TrainConfig(epochs=epochs, batch_size=128, lr=1e-3, seed=seed), init_seed=seed,
                    name="evaluation classifier")


def classifier_from(result, test_images: torch.Tensor, test_labels: torch.Tensor) -> TrainedClassifier:
    """The :class:`TrainedClassifier` of a finished :func:`eval_classifier_job`, its test accuracy
    measured on ``test_images``."""
    from .jobs import JobResult

    if not isinstance(result, JobResult) or result.job.model != "eval_classifier":
        checks.fail("classifier_from", "result", "the JobResult of eval_classifier_job()", checks.describe(result),
                    "run_jobs([eval_classifier_job()])[0]")
    model = result.model()
    test_images = checks.batch(test_images, model.body[0].in_features, "test_images", "classifier_from")
    checks.tensor(test_labels, "test_labels", "classifier_from", kind="int", ndim=1, dims="(N,)")
    checks.same_rows(test_images, test_labels, "the test images and labels", "classifier_from")
    acc = float((TrainedClassifier(model, 0.0, 0.0).predict(test_images) == test_labels).float().mean())
    return TrainedClassifier(model, acc, result.history.seconds)


def _as_np(x) -> np.ndarray:
    return (x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)).astype(np.float64)


def _features(a, b, where: str, names: tuple[str, str] = ("a", "b")) -> tuple[np.ndarray, np.ndarray]:
    """Two finite feature sets (N, F), (M, F) with the same F, as float64 arrays."""
    a = checks.array(a, names[0], where, dims="(N, F)", min_rows=1)
    b = checks.array(b, names[1], where, dims="(M, F)", min_rows=1)
    if a.shape[1] != b.shape[1]:
        checks.fail(where, f"{names[0]} and {names[1]}", "features (N, F) with the same F",
                    f"{a.shape} and {b.shape}", "compute both with the same feature extractor")
    return _as_np(a), _as_np(b)


def frechet_distance(a, b) -> float:
    """Fréchet distance between Gaussians fitted to two sets of features (N, F):

        ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2})   (Heusel et al. 2017, eq. 6).

    The trace of the matrix square root is computed from the eigenvalues of S_a^{1/2} S_b S_a^{1/2},
    which is symmetric positive semi-definite, so no complex round-off arises.
    """
    a, b = _features(a, b, "frechet_distance")
    if min(a.shape[0], b.shape[0]) < 2:
        checks.fail("frechet_distance", "a and b", "at least two samples each", f"{a.shape[0]} and {b.shape[0]}",
                    "a covariance needs two rows or more")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))  # (F, F), F = 1 too
    w, v = np.linalg.eigh(s_a)
    sqrt_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = sqrt_a @ s_b @ sqrt_a
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_sqrt)


def _kth_nn_radius(x: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    radii = []
    for i in range(0, x.shape[0], chunk):
        d = torch.cdist(x[i : i + chunk], x)  # (c, N)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # +1: the point itself is at distance 0
    return torch.cat(radii)


def _inside(query: torch.Tensor, ref: torch.Tensor, radii: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    out = []
    for i in range(0, query.shape[0], chunk):
        d = torch.cdist(query[i : i + chunk], ref)  # (c, N)
        out.append((d <= radii[None, :]).any(1))
    return torch.cat(out)


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls in feature space.

    Precision: fraction of ``fake`` inside the union of balls around ``real`` points whose radius is
    the distance to their k-th nearest real neighbour. Recall: the same with the roles swapped.
    """
    real, fake = _features(real, fake, "precision_recall", ("real", "fake"))
    real = torch.as_tensor(real, dtype=torch.float32)
    fake = torch.as_tensor(fake, dtype=torch.float32)
    n = min(real.shape[0], fake.shape[0])
    if n < 2:
        checks.fail("precision_recall", "real and fake", "at least two samples each",
                    f"{real.shape[0]} and {fake.shape[0]}")
    checks.integer(k, "k", "precision_recall", maximum=n - 1,
                   fix=f"k counts neighbours: 1 <= k < {n}, the smaller set's size")
    precision = _inside(fake, real, _kth_nn_radius(real, k)).float().mean()
    recall = _inside(real, fake, _kth_nn_radius(fake, k)).float().mean()
    return float(precision), float(recall)


def sample_quality(classifier: TrainedClassifier, real_images: torch.Tensor, images: torch.Tensor,
                   k: int = 3) -> dict:
    """Fréchet distance, precision and recall of ``images`` against ``real_images`` in the classifier's
    feature space. Use the same number of images on both sides (the metrics depend on it)."""
    where = "sample_quality"
    if not isinstance(classifier, TrainedClassifier):
        checks.fail(where, "classifier", "a TrainedClassifier (train_eval_classifier(...))",
                    checks.describe(classifier), kind=TypeError)
    dim = classifier.model.body[0].in_features
    real_images = checks.batch(real_images, dim, "real_images", where)
    images = checks.batch(images, dim, "images", where)
    if images.shape[0] != real_images.shape[0]:
        checks.fail(where, "images and real_images", "equal numbers of images (the metrics depend on it)",
                    f"{images.shape[0]} and {real_images.shape[0]}", "draw as many samples as real images")
    fr, fg = classifier.features(real_images), classifier.features(images.clamp(0, 1))
    precision, recall = precision_recall(fr, fg, k=k)
    return {"frechet": frechet_distance(fr, fg), "precision": precision, "recall": recall}


def sample_quality_many(classifier: TrainedClassifier, real_images: torch.Tensor, sets: dict, k: int = 3
                        ) -> dict[str, dict]:
    """:func:`sample_quality` for several sets of images against the same real images: the real images'
    features and k-NN radii are computed once. The numbers are those of :func:`sample_quality`."""
    where = "sample_quality_many"
    if not isinstance(classifier, TrainedClassifier):
        checks.fail(where, "classifier", "a TrainedClassifier (train_eval_classifier(...))",
                    checks.describe(classifier), kind=TypeError)
    dim = classifier.model.body[0].in_features
    real_images = checks.batch(real_images, dim, "real_images", where)
    fr = classifier.features(real_images)
    radii = _kth_nn_radius(torch.as_tensor(fr, dtype=torch.float32), k)
    out = {}
    for name, images in sets.items():
        images = checks.batch(images, dim, f"sets[{name!r}]", where)
        if images.shape[0] != real_images.shape[0]:
            checks.fail(where, f"sets[{name!r}] and real_images", "equal numbers of images", f"{images.shape[0]} "
                        f"and {real_images.shape[0]}", "draw as many samples as real images")
        fg = classifier.features(images.clamp(0, 1))
        precision = float(_inside(fg, fr, radii).float().mean())
        recall = float(_inside(fr, fg, _kth_nn_radius(fg, k)).float().mean())
        out[name] = {"frechet": frechet_distance(fr, fg), "precision": precision, "recall": recall}
    return out


def _standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = train.mean(0), train.std(0) + 1e-8
    return (train - mu) / sd, (test - mu) / sd


def linear_probe(z_train, y_train, z_test, y_test, max_train: int | None = 10000, seed: int = 0) -> float:
    """Test accuracy of a multinomial logistic regression fitted on standardised codes.

    ``max_train`` caps the number of training codes (a fixed random subset) to keep the fit short.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    zt, zs, yt, ys = _codes_and_labels(z_train, y_train, z_test, y_test, "linear_probe")
    if max_train is not None:
        checks.integer(max_train, "max_train", "linear_probe", minimum=2)
    if max_train is not None and len(zt) > max_train:
        idx = np.random.default_rng(seed).permutation(len(zt))[:max_train]
        zt, yt = zt[idx], yt[idx]
    clf = LogisticRegression(max_iter=500, C=1.0)
    with warnings.catch_warnings():  # a fixed budget of 500 L-BFGS iterations, converged or not
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(zt, yt)
    return float((clf.predict(zs) == ys).mean())


def knn_accuracy(z_train, y_train, z_test, y_test, k: int = 5) -> float:
    """Test accuracy of a k-nearest-neighbour classifier on standardised codes ("do same-class images
    land close?")."""
    from sklearn.neighbors import KNeighborsClassifier

    zt, zs, yt, ys = _codes_and_labels(z_train, y_train, z_test, y_test, "knn_accuracy")
    checks.integer(k, "k", "knn_accuracy", maximum=zt.shape[0],
                   fix=f"k counts neighbours among the {zt.shape[0]} training codes")
    clf = KNeighborsClassifier(n_neighbors=k).fit(zt, yt)
    return float((clf.predict(zs) == ys).mean())


def _codes_and_labels(z_train, y_train, z_test, y_test, where: str):
    """Standardised codes (N, k), (M, k) and their integer labels, checked."""
    z_train = checks.array(z_train, "z_train", where, dims="(N, k)", min_rows=1)
    z_test = checks.array(z_test, "z_test", where, dims="(M, k)", min_rows=1)
    if z_train.shape[1] != z_test.shape[1]:
        checks.fail(where, "z_train and z_test", "codes with the same number of columns",
                    f"{z_train.shape} and {z_test.shape}", "encode both sets with the same model")
    yt = checks.labels(y_train, "y_train", where, z_train.shape[0])
    ys = checks.labels(y_test, "y_test", where, z_test.shape[0])
    if np.unique(yt).size < 2:
        checks.fail(where, "y_train", "at least two classes", f"{np.unique(yt).size}")
    zt, zs = _standardize(_as_np(z_train), _as_np(z_test))
    return zt, zs, yt, ys


def auroc(scores_normal, scores_anomalous) -> float:
    """Area under the ROC curve for "higher score = more anomalous" (0.5 = chance, 1 = perfect)."""
    from sklearn.metrics import roc_auc_score

    a = checks.array(scores_normal, "scores_normal", "auroc", ndim=None, dims="(N,)").ravel()
    b = checks.array(scores_anomalous, "scores_anomalous", "auroc", ndim=None, dims="(M,)").ravel()
    if len(a) == 0 or len(b) == 0:
        checks.fail("auroc", "scores_normal and scores_anomalous", "at least one score each",
                    f"{len(a)} and {len(b)}")
    a, b = _as_np(a), _as_np(b)
    return float(roc_auc_score(np.r_[np.zeros(len(a)), np.ones(len(b))], np.r_[a, b]))
