"""How far a self-conditioned model's clusters can hold its digits: purity of pixel clusters.

A self-conditioned GAN (``clusters = k``) is told a cluster, not a digit. Inside a cluster that
mixes digits, the style part of z picks which digit G draws, so truncation, which re-draws
style components, can move a seed to another digit of its cluster. If G drew each cluster's
digits in the cluster's own proportions p_c, a seed and its truncated form would show the same
digit with probability sum_c p_c^2: that is the "expected agreement" printed here, per k, next
to the purity (the share of images whose cluster's commonest digit is their own). The ceiling
of any clustering on pixels is roughly how often an image's nearest other image (in pixels)
has its digit, printed last.

    .venv/bin/python -m bench.cluster_purity [--clusters 40 100 200]

The clustering is the trainer's own (``models.training.clusters``: balanced k-means on pixels,
seed 0); the labels of mnist5k are read only to score it.
"""

from __future__ import annotations

import argparse

import torch

from models.data.builtin import load_mnist5k
from models.training.clusters import balanced_kmeans, features


def purity_and_agreement(clusters: torch.Tensor, labels: torch.Tensor, k: int) -> tuple[float, float]:
    """(purity, expected agreement sum_c p_c^2 weighted by cluster size) of a clustering."""
    pure = agree = 0.0
    for cluster in range(k):
        counts = torch.bincount(labels[clusters == cluster], minlength=int(labels.max()) + 1).double()
        shares = counts / counts.sum()
        pure += float(counts.max())
        agree += float((shares**2).sum() * counts.sum())
    return pure / len(labels), agree / len(labels)


def nearest_neighbour_agreement(points: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of images whose nearest other image (Euclidean, in pixels) has the same label."""
    distances = torch.cdist(points.double(), points.double())
    distances.fill_diagonal_(float("inf"))
    return float((labels[distances.argmin(dim=1)] == labels).double().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, nargs="+", default=[40, 100, 200])
    args = parser.parse_args()
    images, labels, _ = load_mnist5k()
    points = features(images)
    print("| clusters | purity | expected truncation agreement |")
    print("| ---: | ---: | ---: |")
    for k in args.clusters:
        purity, agreement = purity_and_agreement(balanced_kmeans(points, k, seed=0), labels, k)
        print(f"| {k} | {purity:.1%} | {agreement:.1%} |", flush=True)
    print(f"\nnearest other image has the same digit: {nearest_neighbour_agreement(points, labels):.1%}")


if __name__ == "__main__":
    main()
