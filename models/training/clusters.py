"""Balanced k-means over training images: the pseudo-classes of a self-conditioned GAN.

A self-conditioned GAN (Liu et al. 2020, "Diverse Image Generation via Self-Conditioned GANs")
partitions the training images into clusters and trains a discriminator that judges each image
together with its cluster, while the generator is told which cluster to draw. Drawing clusters
in the proportions of the data reproduces the data's mix of modes, which an unconditional
generator otherwise gets only roughly (it drops or over-draws some).

The generator here draws its cluster from the latent vector as an InfoGAN code
(``argmax(z[:k])``, uniform over k values, and still uniform after truncation re-draws
components), so the clusters are made equal in size: balanced k-means, whose assignment step
gives every cluster ``N / k`` images (the first ``N mod k`` clusters one more). Everything is
seeded and runs on the CPU, so a run reproduces its clusters exactly, and a resumed run gets
the same ones.
"""

from __future__ import annotations

import torch

# Images are compared at most this size: enough to tell digits or shapes apart, and it bounds
# the cost for large images.
MAX_SIDE = 32


def features(images: torch.Tensor) -> torch.Tensor:
    """Flattened float pixels ``(N, D)`` of uint8 or float ``(N, C, H, W)`` images, shrunk to at
    most :data:`MAX_SIDE` pixels a side."""
    x = images.to(torch.float32)
    if x.shape[-1] > MAX_SIDE:
        x = torch.nn.functional.adaptive_avg_pool2d(x, MAX_SIDE)
    return x.flatten(1)


def balanced_kmeans(points: torch.Tensor, k: int, seed: int, iterations: int = 15) -> torch.Tensor:
    """Cluster index ``(N,)`` of each row of ``points``: k clusters of ``N // k`` or ``N // k + 1``.

    k-means++ seeding, then Lloyd iterations whose assignment step is a greedy capacity-limited
    matching: the closest (point, centre) pairs are taken first, each point once, each centre up
    to its capacity.
    """
    count = points.shape[0]
    if not 2 <= k <= count:
        raise ValueError(f"cannot make {k} clusters of {count} images")
    points = points.to(torch.float64)
    draw = torch.Generator().manual_seed(seed)
    centres = _kmeanspp(points, k, draw)
    capacity = torch.full((k,), count // k, dtype=torch.int64)
    capacity[: count % k] += 1
    assignment = torch.full((count,), -1, dtype=torch.int64)
    for _ in range(iterations):
        new = _assign(torch.cdist(points, centres), capacity)
        if torch.equal(new, assignment):
            break
        assignment = new
        centres = torch.stack([points[assignment == c].mean(dim=0) for c in range(k)])
    return assignment


def _kmeanspp(points: torch.Tensor, k: int, draw: torch.Generator) -> torch.Tensor:
    """k-means++ (Arthur and Vassilvitskii 2007): each new centre drawn with probability
    proportional to its squared distance from the nearest centre so far."""
    first = int(torch.randint(points.shape[0], (1,), generator=draw))
    centres = [points[first]]
    nearest = ((points - points[first]) ** 2).sum(dim=1)
    for _ in range(1, k):
        index = int(torch.multinomial(nearest / nearest.sum(), 1, generator=draw))
        centres.append(points[index])
        nearest = torch.minimum(nearest, ((points - points[index]) ** 2).sum(dim=1))
    return torch.stack(centres)


def _assign(distances: torch.Tensor, capacity: torch.Tensor) -> torch.Tensor:
    """Greedy balanced assignment: pairs in order of distance (ties by index, so it is
    deterministic), a point to the first centre with room."""
    count, k = distances.shape
    order = torch.argsort(distances.flatten(), stable=True)
    room = capacity.tolist()
    assignment = [-1] * count  # plain lists: element access on tensors is slow in this loop
    placed = 0
    for flat in order.tolist():
        point, centre = divmod(flat, k)
        if assignment[point] < 0 and room[centre] > 0:
            assignment[point] = centre
            room[centre] -= 1
            placed += 1
            if placed == count:
                break
    return torch.tensor(assignment, dtype=torch.int64)
