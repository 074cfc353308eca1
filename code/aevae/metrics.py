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

from .models import mlp
from .train import TrainConfig, batched, fit

__all__ = [
    "EvalClassifier",
    "train_eval_classifier",
    "frechet_distance",
    "precision_recall",
    "sample_quality",
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

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, H)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))  # (B, classes) logits


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

    Inputs are jittered by one pixel at random during training, which makes the features less
    sensitive to the exact pixel grid (generated images are rarely pixel-aligned).
    """
    if train_images.shape[0] != train_labels.shape[0]:
        raise ValueError("train_images and train_labels differ in length.")
    torch.manual_seed(seed)
    model = EvalClassifier(input_dim=train_images.shape[1])
    data = torch.cat([train_images, train_labels[:, None].float()], 1)  # labels ride along as a column

    def loss_fn(m, batch, gen):
        x, y = batch[:, :-1], batch[:, -1].long()
        return nn.functional.cross_entropy(m(x), y)

    hist = fit(model, loss_fn, data, TrainConfig(epochs=epochs, batch_size=128, lr=1e-3, seed=seed),
               device=device, desc="evaluation classifier")
    acc = float((TrainedClassifier(model, 0.0, 0.0).predict(test_images) == test_labels).float().mean())
    return TrainedClassifier(model, acc, hist.seconds)


def _as_np(x) -> np.ndarray:
    return (x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)).astype(np.float64)


def frechet_distance(a, b) -> float:
    """Fréchet distance between Gaussians fitted to two sets of features (N, F):

        ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2})   (Heusel et al. 2017, eq. 6).

    The trace of the matrix square root is computed from the eigenvalues of S_a^{1/2} S_b S_a^{1/2},
    which is symmetric positive semi-definite, so no complex round-off arises.
    """
    a, b = _as_np(a), _as_np(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (N, F) with the same F, got {a.shape} and {b.shape}.")
    if min(a.shape[0], b.shape[0]) < 2:
        raise ValueError("need at least two samples in each set.")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
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
    real = torch.as_tensor(_as_np(real), dtype=torch.float32)
    fake = torch.as_tensor(_as_np(fake), dtype=torch.float32)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (N, F) with the same F, got {tuple(real.shape)} and {tuple(fake.shape)}.")
    if not 1 <= k < min(real.shape[0], fake.shape[0]):
        raise ValueError(f"k must be in [1, {min(real.shape[0], fake.shape[0]) - 1}], got {k}.")
    precision = _inside(fake, real, _kth_nn_radius(real, k)).float().mean()
    recall = _inside(real, fake, _kth_nn_radius(fake, k)).float().mean()
    return float(precision), float(recall)


def sample_quality(classifier: TrainedClassifier, real_images: torch.Tensor, images: torch.Tensor,
                   k: int = 3) -> dict:
    """Fréchet distance, precision and recall of ``images`` against ``real_images`` in the classifier's
    feature space. Use the same number of images on both sides (the metrics depend on it)."""
    if images.shape[0] != real_images.shape[0]:
        raise ValueError(f"compare equal numbers of images ({images.shape[0]} vs {real_images.shape[0]}).")
    fr, fg = classifier.features(real_images), classifier.features(images.clamp(0, 1))
    precision, recall = precision_recall(fr, fg, k=k)
    return {"frechet": frechet_distance(fr, fg), "precision": precision, "recall": recall}


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

    zt, zs = _standardize(_as_np(z_train), _as_np(z_test))
    yt, ys = np.asarray(y_train), np.asarray(y_test)
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

    zt, zs = _standardize(_as_np(z_train), _as_np(z_test))
    clf = KNeighborsClassifier(n_neighbors=k).fit(zt, np.asarray(y_train))
    return float((clf.predict(zs) == np.asarray(y_test)).mean())


def auroc(scores_normal, scores_anomalous) -> float:
    """Area under the ROC curve for "higher score = more anomalous" (0.5 = chance, 1 = perfect)."""
    from sklearn.metrics import roc_auc_score

    a, b = _as_np(scores_normal).ravel(), _as_np(scores_anomalous).ravel()
    if len(a) == 0 or len(b) == 0:
        raise ValueError("need at least one normal and one anomalous score.")
    return float(roc_auc_score(np.r_[np.zeros(len(a)), np.ones(len(b))], np.r_[a, b]))
