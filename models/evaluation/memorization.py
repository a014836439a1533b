"""How much of what a generator draws is a near-copy of a training image.

The yardstick comes from the training images themselves: for each training image, the distance
to its nearest *other* training image; the 5th percentile of those distances is the threshold.
A generated image whose nearest training image is no farther than that is counted as memorised. A
generator that draws new images from the data's distribution therefore scores about 5% (as many
as real images would), one that copies its training set far more.

Distances are Euclidean, in the evaluator's 128-dimensional features where the data has an
evaluator, else in pixels (float images in [-1, 1], flattened). At most ``MAX_REFERENCE``
training images are used (a seeded subset), which bounds the cost at about
``MAX_REFERENCE²`` distances.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch

PERCENTILE = 5.0
MAX_REFERENCE = 5000
_CHUNK = 1024

Space = Literal["evaluator features", "pixels"]


@dataclass(frozen=True)
class Memorization:
    """The memorised share and how it was measured."""

    share: float  # generated images at most `threshold` from a training image
    threshold: float  # the PERCENTILE-th percentile of training nearest-neighbour distances
    space: Space
    num_generated: int
    num_reference: int

    def to_dict(self) -> dict[str, float | int | str]:
        """A JSON-safe dict."""
        return asdict(self)


def reference_subset(count: int, seed: int) -> torch.Tensor:
    """Indices of the training images used as the reference: all, or a seeded subset."""
    if count <= MAX_REFERENCE:
        return torch.arange(count)
    picker = torch.Generator().manual_seed(seed)
    return torch.randperm(count, generator=picker)[:MAX_REFERENCE].sort().values


def nearest_distances(queries: torch.Tensor, reference: torch.Tensor, *, exclude_self: bool) -> torch.Tensor:
    """For each row of ``queries`` (N, F), the distance to its nearest row of ``reference`` (M, F);
    with ``exclude_self`` the queries are the reference and a row's own distance is skipped."""
    queries, reference = queries.double(), reference.double()
    nearest = []
    for start in range(0, len(queries), _CHUNK):
        distances = torch.cdist(queries[start : start + _CHUNK], reference)
        if exclude_self:
            rows = torch.arange(len(distances))
            distances[rows, rows + start] = float("inf")
        nearest.append(distances.min(dim=1).values)
    return torch.cat(nearest) if nearest else torch.empty(0, dtype=torch.float64)


def memorization(generated: torch.Tensor, training: torch.Tensor, space: Space) -> Memorization:
    """The memorised share of ``generated`` (N, ...) against ``training`` (M, ...) embeddings
    or images (anything past the first dimension is flattened)."""
    if len(training) < 2 or len(generated) < 1:
        raise ValueError(
            f"need 2 or more training and 1 or more generated images, "
            f"got {len(training)} and {len(generated)}"
        )
    reference = training.reshape(len(training), -1)
    queries = generated.reshape(len(generated), -1)
    if queries.shape[1] != reference.shape[1]:
        raise ValueError(f"generated rows have {queries.shape[1]} values, training rows {reference.shape[1]}")
    among_training = nearest_distances(reference, reference, exclude_self=True)
    threshold = float(torch.quantile(among_training, PERCENTILE / 100))
    to_training = nearest_distances(queries, reference, exclude_self=False)
    return Memorization(
        # At most, not under: where over 5% of the training images are exact duplicates the
        # threshold is 0, and an exact copy must still count.
        share=float((to_training <= threshold).double().mean()),
        threshold=threshold,
        space=space,
        num_generated=len(queries),
        num_reference=len(reference),
    )
