"""The shipped evaluator classifiers and the quality figures built on them."""

from __future__ import annotations

import math

import pytest
import torch

from models.data import load_dataset
from models.evaluation import (
    EVALUATOR_DATASETS,
    QualityFigures,
    evaluate_images,
    frechet_distance,
    load_evaluator,
    real_floor,
)
from models.evaluation.classifier import WEIGHTS_DIR

TARGETS = {"digits": 0.95, "mnist5k": 0.96, "shapes": 0.98}


@pytest.mark.parametrize("name", EVALUATOR_DATASETS)
def test_shipped_weights_load_with_metadata(name: str) -> None:
    evaluator = load_evaluator(name)
    assert evaluator.heldout_accuracy >= TARGETS[name]
    assert int(evaluator.metadata["num_heldout"]) >= 300
    assert evaluator.dataset == name and len(evaluator.class_names) == evaluator.num_classes
    assert (WEIGHTS_DIR / f"{name}.safetensors").stat().st_size < 500_000


@pytest.mark.parametrize("name", EVALUATOR_DATASETS)
def test_classifies_real_images(name: str) -> None:
    evaluator = load_evaluator(name)
    # For shapes, a seed the evaluator never trained on: freshly drawn images.
    data = load_dataset(name, num_images=300, seed=12345)
    images, labels = data.batch(torch.arange(len(data)))
    logits = evaluator.predict(images)
    assert logits.shape == (300, data.num_classes)
    assert (logits.argmax(1) == labels).float().mean() >= 0.9
    assert evaluator.features(images[:5]).shape == (5, evaluator.config.feature_dim)


def test_accepts_other_sizes_and_channels() -> None:
    evaluator = load_evaluator("mnist5k")
    data = load_dataset("mnist5k", num_images=200, seed=1)
    native, labels = data.batch(torch.arange(200))
    enlarged, _ = load_dataset("mnist5k", num_images=200, seed=1, image_size=56, channels=3).batch(
        torch.arange(200)
    )
    assert (evaluator.predict(enlarged).argmax(1) == labels).float().mean() >= 0.9
    assert (evaluator.predict(native).argmax(1) == labels).float().mean() >= 0.9
    with pytest.raises(ValueError, match="1 or 3"):
        evaluator.predict(torch.zeros(2, 2, 28, 28))


def test_unknown_dataset_has_no_evaluator() -> None:
    with pytest.raises(ValueError, match="no quality evaluator for dataset 'cifar10'"):
        load_evaluator("cifar10")


# ---------------------------------------------------------------- Fréchet distance


def _correlated(n: int, dim: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    return torch.randn(n, dim, generator=generator, dtype=torch.float64) @ mixing


def test_frechet_distance_closed_forms() -> None:
    a = _correlated(500, 16, 0)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = torch.linspace(-1, 1, 16, dtype=torch.float64)
    # Equal covariances: only the means differ, d² = ‖δ‖².
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift.square().sum()), rel=1e-6)
    # Σb = 4 Σa: tr(Σa + 4Σa - 2·2Σa) = tr Σa, plus the squared mean difference.
    b = 2 * a + shift
    expected = float((a.mean(0) - b.mean(0)).square().sum() + torch.cov(a.T).trace())
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_symmetric_and_validated() -> None:
    a, b = _correlated(300, 8, 1), _correlated(200, 8, 2) + 0.5
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)
    assert frechet_distance(a, b) > 1.0
    with pytest.raises(ValueError, match="equal F"):
        frechet_distance(a, b[:, :4])
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(a[:1], b)


# ---------------------------------------------------------------- quality figures


def test_real_floor_is_far_below_noise() -> None:
    evaluator = load_evaluator("digits")
    data = load_dataset("digits")
    floor = real_floor(evaluator, data, num_samples=400, seed=0)
    assert floor.num_generated == floor.num_real == 400 and floor.num_classes == 10
    assert floor.classes_present == 10 and floor.class_kl < 0.05
    assert floor.label_accuracy is not None and floor.label_accuracy > 0.9

    real, labels = data.batch(torch.arange(400, 800))
    noise = torch.rand(400, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    figures = evaluate_images(evaluator, noise, real, labels)
    assert figures.frechet_distance > 10 * floor.frechet_distance
    assert figures.class_kl > floor.class_kl + 0.5
    assert figures.label_accuracy is None


def test_collapse_and_wrong_labels_show() -> None:
    evaluator = load_evaluator("shapes")
    data = load_dataset("shapes", num_images=500, seed=7)
    images, labels = data.batch(torch.arange(500))
    circles = images[labels == 0][:100]
    asked_circle = torch.zeros(len(circles), dtype=torch.int64)
    figures = evaluate_images(evaluator, circles, images, labels, asked_circle)
    assert figures.classes_present == 1
    # Everything in one of 5 balanced classes: KL = log 5.
    assert figures.class_kl == pytest.approx(math.log(5), abs=0.1)
    assert figures.label_accuracy is not None and figures.label_accuracy > 0.9
    wrong = evaluate_images(evaluator, circles, images, labels, asked_circle + 1)
    assert wrong.label_accuracy is not None and wrong.label_accuracy < 0.1
    fields = QualityFigures.__dataclass_fields__.keys()
    assert set(figures.to_dict()) == set(fields)


def test_real_floor_needs_labels() -> None:
    evaluator = load_evaluator("digits")
    with pytest.raises(ValueError, match="labelled dataset"):
        real_floor(evaluator, load_dataset("shapes", num_images=20), 10, 0)
