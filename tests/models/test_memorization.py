"""The memorised share: about 5% for new draws from the data's distribution, near 100% for
copies, whatever the space; exact duplicates in the data still let copies count."""

from __future__ import annotations

import pytest
import torch

from models.evaluation.memorization import MAX_REFERENCE, memorization, reference_subset


def cloud(count: int, seed: int) -> torch.Tensor:
    return torch.randn(count, 8, generator=torch.Generator().manual_seed(seed))


def test_fresh_draws_from_the_same_distribution_score_about_the_percentile() -> None:
    figure = memorization(cloud(1000, 1), cloud(2000, 0), "evaluator features")
    assert 0.02 <= figure.share <= 0.09, figure
    assert (figure.num_generated, figure.num_reference) == (1000, 2000)


def test_near_copies_of_training_images_score_far_more() -> None:
    training = cloud(2000, 0)
    copies = training[:500] + 0.01 * cloud(500, 2)
    assert memorization(copies, training, "pixels").share == 1.0


def test_a_half_copying_generator_scores_between() -> None:
    training = cloud(2000, 0)
    half = torch.cat([training[:500], cloud(500, 3)])
    assert 0.5 <= memorization(half, training, "pixels").share <= 0.56


def test_exact_copies_count_even_when_duplicates_make_the_threshold_zero() -> None:
    training = torch.cat([cloud(100, 0)] * 2)  # every image twice: nearest other image at 0
    figure = memorization(training[:10], training, "pixels")
    assert figure.threshold == 0.0 and figure.share == 1.0


def test_images_are_flattened_and_shapes_must_agree() -> None:
    images = torch.rand(50, 1, 4, 4)
    assert memorization(images[:5], images, "pixels").share == 1.0
    with pytest.raises(ValueError, match="48 values, training rows 16"):
        memorization(torch.rand(5, 3, 4, 4), images, "pixels")


def test_the_reference_is_all_images_or_a_seeded_subset() -> None:
    assert torch.equal(reference_subset(10, 0), torch.arange(10))
    subset = reference_subset(3 * MAX_REFERENCE, 0)
    assert len(subset) == MAX_REFERENCE and torch.equal(subset, reference_subset(3 * MAX_REFERENCE, 0))
    assert bool((subset[1:] > subset[:-1]).all())
