"""The evaluator's small CNN classifier and its safetensors file format.

A weights file holds the float32 tensors of `EvaluatorNet` plus string metadata:
`format`, `config` (JSON of `EvaluatorConfig`), `class_names` (JSON list) and training
facts such as `heldout_accuracy`. Loading rebuilds the network from the file alone and
never unpickles.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from models.data.transforms import convert_channels_float, resize_float

FILE_FORMAT = "ganserve-evaluator/1"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
EVALUATOR_DATASETS = ("digits", "mnist5k", "shapes")
_BATCH = 256


@dataclass(frozen=True)
class EvaluatorConfig:
    """Everything needed to rebuild the network; stored inside the weights file."""

    dataset: str
    image_size: int
    channels: int
    num_classes: int
    widths: tuple[int, int, int, int] = (16, 32, 64, 64)
    feature_dim: int = 128

    @classmethod
    def from_json(cls, text: str) -> EvaluatorConfig:
        """Parse the ``config`` metadata JSON of a weights file (``widths`` back to a tuple)."""
        fields = json.loads(text)
        fields["widths"] = tuple(fields["widths"])
        return cls(**fields)


class EvaluatorNet(nn.Module):
    """Four 3x3 convolutions, two 2x poolings, a `feature_dim` layer, then the classes.

    Pooling to a fixed 2x2 grid before the feature layer keeps the parameter count
    (about 95k, under 400 KB) independent of the input size.
    """

    def __init__(self, config: EvaluatorConfig, generator: torch.Generator | None = None):
        super().__init__()
        w0, w1, w2, w3 = config.widths
        self.trunk = nn.Sequential(
            nn.Conv2d(config.channels, w0, 3, padding=1),  # w0 x S x S
            nn.ReLU(inplace=True),
            nn.Conv2d(w0, w1, 3, padding=1),  # w1 x S x S
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # w1 x S/2 x S/2
            nn.Conv2d(w1, w2, 3, padding=1),  # w2 x S/2 x S/2
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # w2 x S/4 x S/4
            nn.Conv2d(w2, w3, 3, padding=1),  # w3 x S/4 x S/4
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(2),  # w3 x 2 x 2
            nn.Flatten(),  # 4*w3
            nn.Linear(4 * w3, config.feature_dim),  # feature_dim
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(config.feature_dim, config.num_classes)
        if generator is not None:
            self._reset(generator)

    def _reset(self, generator: torch.Generator) -> None:
        # PyTorch's default initialisation, but drawn from `generator` so training is
        # reproducible without seeding the global RNG.
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                bound = 1.0 / math.sqrt(module.weight[0].numel())
                if module.bias is not None:  # every layer here has one
                    nn.init.uniform_(module.bias, -bound, bound, generator=generator)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, S, S) images in [-1, 1] -> (features (N, F), logits (N, K))."""
        features = self.trunk(images)
        return features, self.head(features)


class Evaluator:
    """A trained classifier that scores generated images for one dataset.

    `features`, `predict` and `features_and_logits` accept float images in [-1, 1] of any
    size and 1 or 3 channels; they are converted to the dataset's native format first
    (BT.601 luma / channel repeat, then area or antialiased resizing).
    """

    def __init__(self, network: EvaluatorNet, config: EvaluatorConfig, metadata: dict[str, str]) -> None:
        self.network = network.eval()
        self.config = config
        self.metadata = metadata
        self.class_names: tuple[str, ...] = tuple(json.loads(metadata["class_names"]))

    @property
    def dataset(self) -> str:
        """The dataset this evaluator was trained to classify."""
        return self.config.dataset

    @property
    def num_classes(self) -> int:
        """Number of classes the network predicts."""
        return self.config.num_classes

    @property
    def heldout_accuracy(self) -> float:
        """Accuracy on held-out real images, as recorded in the weights file."""
        return float(self.metadata["heldout_accuracy"])

    def to(self, device: torch.device | str) -> Evaluator:
        """Move the network to ``device``; returns this evaluator for chaining."""
        self.network.to(device)
        return self

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Convert float images to the network's native size and channels."""
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"expected (N, 1 or 3, H, W) images, got shape {tuple(images.shape)}")
        images = convert_channels_float(images.float(), self.config.channels)
        # Bicubic enlarging can overshoot; the network never saw values outside [-1, 1].
        return resize_float(images, self.config.image_size).clamp(-1.0, 1.0)

    @torch.no_grad()
    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Penultimate features (N, feature_dim) and logits (N, K), on the CPU."""
        device = next(self.network.parameters()).device
        was_training = self.network.training
        self.network.eval()
        features, logits = [], []
        for start in range(0, len(images), _BATCH):
            chunk = self.prepare(images[start : start + _BATCH].to(device))
            chunk_features, chunk_logits = self.network(chunk)
            features.append(chunk_features.cpu())
            logits.append(chunk_logits.cpu())
        self.network.train(was_training)
        if not features:
            empty = torch.empty(0, self.config.feature_dim), torch.empty(0, self.num_classes)
            return empty
        return torch.cat(features), torch.cat(logits)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features (N, feature_dim) used for the Fréchet distance."""
        return self.features_and_logits(images)[0]

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits (N, num_classes)."""
        return self.features_and_logits(images)[1]


def save_evaluator(
    path: str | Path,
    network: EvaluatorNet,
    config: EvaluatorConfig,
    class_names: tuple[str, ...],
    facts: dict[str, Any],
) -> None:
    """Write float32 weights plus config, class names and `facts` as string metadata."""
    metadata = {key: str(value) for key, value in facts.items()}
    metadata.update(
        format=FILE_FORMAT,
        config=json.dumps(asdict(config)),
        class_names=json.dumps(list(class_names)),
    )
    tensors = {k: v.detach().float().contiguous().cpu() for k, v in network.state_dict().items()}
    save_file(tensors, str(path), metadata=metadata)


def load_evaluator(dataset: str, weights_dir: str | Path | None = None) -> Evaluator:
    """Load the shipped evaluator for `dataset` (one of `EVALUATOR_DATASETS`).

    Raises:
        ValueError: no evaluator exists for `dataset`, or its file is not one.
    """
    if dataset not in EVALUATOR_DATASETS:
        raise ValueError(
            f"no quality evaluator for dataset {dataset!r}; "
            f"evaluators exist for {', '.join(EVALUATOR_DATASETS)}"
        )
    path = Path(weights_dir or WEIGHTS_DIR) / f"{dataset}.safetensors"
    if not path.is_file():
        raise ValueError(f"evaluator weights {str(path)!r} are missing; run scripts/train_evaluator.py")
    return load_evaluator_file(path)


def load_evaluator_file(path: str | Path) -> Evaluator:
    """Load an evaluator from its weights file (a shipped one, or one trained for a dataset).

    Raises:
        ValueError: the file is not an evaluator weights file.
    """
    with safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata() or {})
    if metadata.get("format") != FILE_FORMAT:
        raise ValueError(f"{str(path)!r} is not a {FILE_FORMAT} file")
    config = EvaluatorConfig.from_json(metadata["config"])
    network = EvaluatorNet(config)
    network.load_state_dict(load_file(str(path)))
    return Evaluator(network, config, metadata)
