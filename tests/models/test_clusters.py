"""Balanced k-means: the pseudo-classes of a self-conditioned GAN."""

from __future__ import annotations

import pytest
import torch

from models.training.clusters import balanced_kmeans, features


def blobs(sizes: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Points in tight blobs far apart, and which blob each came from."""
    draw = torch.Generator().manual_seed(seed)
    centres = torch.eye(len(sizes), 6) * 50
    points = torch.cat([centres[i] + torch.randn(n, 6, generator=draw) for i, n in enumerate(sizes)])
    truth = torch.cat([torch.full((n,), i) for i, n in enumerate(sizes)])
    order = torch.randperm(len(truth), generator=draw)
    return points[order], truth[order]


def test_equal_blobs_come_back_as_the_clusters() -> None:
    points, truth = blobs([25, 25, 25, 25])
    clusters = balanced_kmeans(points, 4, seed=0)
    # Each cluster is exactly one blob, whatever the numbering.
    pairs = set(zip(clusters.tolist(), truth.tolist(), strict=True))
    assert len(pairs) == 4 and {c for c, _ in pairs} == {0, 1, 2, 3}


def test_clusters_are_balanced_even_when_the_data_is_not() -> None:
    points, _ = blobs([40, 10, 10, 13])  # 73 points: clusters of 19, 18, 18, 18
    clusters = balanced_kmeans(points, 4, seed=1)
    assert sorted(torch.bincount(clusters, minlength=4).tolist()) == [18, 18, 18, 19]


def test_same_seed_same_clusters() -> None:
    points = torch.randn(200, 5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(balanced_kmeans(points, 7, seed=5), balanced_kmeans(points, 7, seed=5))


@pytest.mark.parametrize("k", [1, 11])
def test_impossible_cluster_counts_are_refused(k: int) -> None:
    with pytest.raises(ValueError, match=f"cannot make {k} clusters of 10 images"):
        balanced_kmeans(torch.randn(10, 3), k, seed=0)


def test_features_shrink_large_images_only() -> None:
    small = torch.zeros(3, 1, 28, 28, dtype=torch.uint8)
    assert features(small).shape == (3, 28 * 28)
    large = torch.zeros(2, 3, 64, 64, dtype=torch.uint8)
    assert features(large).shape == (2, 3 * 32 * 32)
