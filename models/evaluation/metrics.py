"""Quality figures from the evaluator's features and predictions (see the package docstring)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from models.data.dataset import ImageDataset
from models.evaluation.classifier import Evaluator

PRESENT_FRACTION = 0.01  # a class is present if >= 1% of the generated images show it
KL_EPSILON = 1e-6  # added to every class probability before renormalising


@dataclass
class QualityFigures:
    """Figures for one set of generated images against real ones (lower FD/KL is better)."""

    frechet_distance: float
    classes_present: int
    num_classes: int
    class_kl: float
    num_generated: int
    num_real: int
    label_accuracy: float | None = None

    def to_dict(self) -> dict[str, float | int | None]:
        """The figures as a plain JSON-safe dict (the ``quality`` entry of a metrics record)."""
        return asdict(self)


def _gaussian(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = features.detach().to("cpu", torch.float64)
    mean = x.mean(dim=0)
    centred = x - mean
    return mean, centred.T @ centred / (len(x) - 1)


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two (N, F) feature sets.

    d² = ‖μa − μb‖² + tr Σa + tr Σb − 2 tr sqrt(Σa Σb), in float64. The trace term uses
    tr sqrt(Σa Σb) = Σ sqrt(eig(sqrt(Σa) Σb sqrt(Σa))): that matrix is symmetric PSD, so
    `eigh` suffices (no scipy) and tiny negative eigenvalues from rounding are clamped.
    """
    if features_a.dim() != 2 or features_b.dim() != 2 or features_a.shape[1] != features_b.shape[1]:
        raise ValueError(
            f"need two (N, F) feature sets of equal F, got {tuple(features_a.shape)} "
            f"and {tuple(features_b.shape)}"
        )
    if len(features_a) < 2 or len(features_b) < 2:
        raise ValueError("need at least 2 samples in each set to fit a covariance")
    mean_a, cov_a = _gaussian(features_a)
    mean_b, cov_b = _gaussian(features_b)
    values, vectors = torch.linalg.eigh(cov_a)
    sqrt_a = (vectors * values.clamp(min=0).sqrt()) @ vectors.T
    middle = sqrt_a @ cov_b @ sqrt_a
    middle = (middle + middle.T) / 2  # remove rounding asymmetry before eigh
    trace_sqrt = torch.linalg.eigvalsh(middle).clamp(min=0).sqrt().sum()
    distance = (mean_a - mean_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt
    # Identical sets can land a hair below zero through rounding.
    return max(float(distance), 0.0)


def _histogram(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.bincount(labels.to(torch.int64).cpu(), minlength=num_classes).to(torch.float64)


def _smoothed(histogram: torch.Tensor) -> torch.Tensor:
    probabilities = histogram / histogram.sum() + KL_EPSILON
    return probabilities / probabilities.sum()


def evaluate_images(
    evaluator: Evaluator,
    generated: torch.Tensor,
    real: torch.Tensor,
    real_labels: torch.Tensor,
    requested_labels: torch.Tensor | None = None,
) -> QualityFigures:
    """Score generated images against real ones; every image given is used.

    Args:
        evaluator: the classifier for the dataset (see `load_evaluator`).
        generated: (N, C, H, W) float images in [-1, 1], any size and 1 or 3 channels.
        real: (M, C, H, W) float real images in [-1, 1].
        real_labels: (M,) true classes of `real`; their histogram is the KL reference.
        requested_labels: (N,) classes a conditional generator was asked for; gives
            `label_accuracy`.
    """
    if len(real_labels) != len(real):
        raise ValueError(f"{len(real)} real images but {len(real_labels)} real labels")
    if requested_labels is not None and len(requested_labels) != len(generated):
        raise ValueError(f"{len(generated)} generated images but {len(requested_labels)} requested labels")
    fake_features, fake_logits = evaluator.features_and_logits(generated)
    real_features = evaluator.features(real)
    num_classes = evaluator.num_classes
    predicted = fake_logits.argmax(dim=1)

    fake_histogram = _histogram(predicted, num_classes)
    threshold = max(1, math.ceil(PRESENT_FRACTION * len(generated)))
    p, q = _smoothed(fake_histogram), _smoothed(_histogram(real_labels, num_classes))
    label_accuracy = None
    if requested_labels is not None:
        hits = predicted == requested_labels.to(torch.int64).cpu()
        label_accuracy = float(hits.double().mean())
    return QualityFigures(
        frechet_distance=frechet_distance(fake_features, real_features),
        classes_present=int((fake_histogram >= threshold).sum()),
        num_classes=num_classes,
        class_kl=float((p * (p / q).log()).sum()),
        num_generated=len(generated),
        num_real=len(real),
        label_accuracy=label_accuracy,
    )


def real_floor(evaluator: Evaluator, dataset: ImageDataset, num_samples: int, seed: int) -> QualityFigures:
    """The figures for real images scored against other real images: the best reachable.

    Two disjoint random halves of `num_samples` images each (fewer if the dataset has
    under 2 * `num_samples`: then half of it each) play "generated" and "real". The
    first half's true labels are passed as requested labels, so `label_accuracy` is the
    classifier's accuracy on them.
    """
    if dataset.labels is None or dataset.num_classes != evaluator.num_classes:
        raise ValueError(
            f"real_floor needs a labelled dataset with {evaluator.num_classes} classes, "
            f"got {dataset.name!r} with {dataset.num_classes}"
        )
    count = min(num_samples, len(dataset) // 2)
    if count < 2:
        raise ValueError(f"need at least 4 images for two halves, got {len(dataset)}")
    (fake, fake_labels), (real, real_labels) = real_halves(dataset, count, seed)
    assert fake_labels is not None and real_labels is not None  # checked above
    return evaluate_images(evaluator, fake, real, real_labels, requested_labels=fake_labels)


def real_halves(
    dataset: ImageDataset, count: int, seed: int
) -> tuple[tuple[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor | None]]:
    """Two disjoint random sets of ``count`` real images (with labels), the same for a seed."""
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(dataset)))
    return dataset.batch(order[:count]), dataset.batch(order[count : 2 * count])
