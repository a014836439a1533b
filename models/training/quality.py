"""Quality figures during training, from the project's evaluator classifier (when one exists).

The generator is sampled through the public seed contract (seeds ``0..n-1``, labels ``i % K`` for
conditional models), so a figure in the metrics log describes exactly the images users get.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from models.data import ImageDataset
from models.evaluation import EVALUATOR_DATASETS, evaluate_images, load_evaluator
from models.inference import label_tensor, latents_for_seeds, seed_labels


class QualityProbe:
    """Computes quality figures for a generator against a fixed real subset."""

    def __init__(self, dataset_name: str, dataset: ImageDataset, num_samples: int, seed: int):
        self.enabled = dataset_name in EVALUATOR_DATASETS and num_samples > 0
        if not self.enabled:
            return
        self.evaluator = load_evaluator(dataset_name)
        # Own generator: choosing the real subset must not disturb the training streams.
        picker = torch.Generator(device="cpu").manual_seed(seed + 7919)
        count = min(num_samples, len(dataset))
        indices = torch.randperm(len(dataset), generator=picker)[:count]
        self.real, self.real_labels = dataset.batch(indices)
        self.num_samples = count
        self.num_classes = dataset.num_classes

    @torch.no_grad()
    def measure(self, generator: nn.Module, latent_dim: int, conditional: bool) -> dict[str, Any]:
        """``{"quality": figures}`` for ``generator`` at seeds ``0..n-1``; ``{}`` without evaluator/labels."""
        if not self.enabled or self.real_labels is None:
            return {}
        device = next(generator.parameters()).device
        was_training = generator.training
        generator.eval()
        latents = latents_for_seeds(range(self.num_samples), latent_dim).to(device)
        requested = None
        chunks = []
        for start in range(0, self.num_samples, 256):
            z = latents[start : start + 256]
            if conditional:
                labels = label_tensor(seed_labels(range(start, start + len(z)), self.num_classes))
                assert labels is not None  # conditional
                chunks.append(generator(z, labels.to(device)).float().cpu())
            else:
                chunks.append(generator(z).float().cpu())
        if conditional:
            requested = label_tensor(seed_labels(range(self.num_samples), self.num_classes))
        generator.train(was_training)
        figures = evaluate_images(self.evaluator, torch.cat(chunks), self.real, self.real_labels, requested)
        return {"quality": figures.to_dict()}
