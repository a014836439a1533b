"""Quality figures for generators of the labelled built-in datasets.

For ``digits``, ``mnist5k`` and ``shapes`` the project ships a small CNN classifier
(`models/evaluation/weights/{dataset}.safetensors`, trained by
`scripts/train_evaluator.py` on 80% of the dataset; the held-out accuracy on the other
20% is in the file's metadata). Every image is first converted to the classifier's
native format (8x8x1, 28x28x1, 32x32x3): RGB -> gray by BT.601 luma, gray -> RGB by
repetition, then area / antialiased-bilinear shrinking or bicubic enlarging.

How `evaluate_images` computes each figure, with N generated and M real images (all
of them are used; nothing is subsampled inside):

- ``frechet_distance``: the classifier's 128-dimensional penultimate features (after
  ReLU) of the N generated and the M real images; a Gaussian (mean, unbiased
  covariance) is fitted to each set and d² = ‖μg − μr‖² + tr(Σg + Σr − 2 sqrt(Σg Σr))
  is computed in float64. Like FID, it is biased upwards for small sets, so compare
  figures only at equal N and M (the training probe and `real_floor` both use fixed
  counts; a few hundred to a thousand images per set is the intended range).
- ``classes_present``: the generated images are classified (argmax of the logits); a
  class counts as present when at least max(1, ⌈1% · N⌉) images are predicted as it.
  Stray single misclassifications therefore do not hide a collapsed mode once N ≥ 200.
- ``class_kl``: KL(p ‖ q) in nats, where p is the histogram of predicted classes of the
  generated images and q the histogram of the true `real_labels`. Each probability
  gets ε = 1e-6 added and is renormalised, so a missing class gives a large but finite
  value. 0 means the class balance matches; log K means everything fell in one class
  (for uniform real data).
- ``label_accuracy`` (only with ``requested_labels``): the fraction of generated images
  the classifier assigns to the label the conditional generator was asked for.
- ``num_generated`` / ``num_real``: N and M.

`real_floor(evaluator, dataset, num_samples, seed)` computes the same figures for two
disjoint random halves of real data of `num_samples` images each (capped at half the
dataset), which is the best a generator can score at that sample count; its
``label_accuracy`` is the classifier's accuracy on the first half.

For scale, measured with the shipped weights at 500 vs 500 images (seed 0): the real
floor FD is about 3 (digits), 7 (mnist5k) and 36 (shapes), with all classes present
and class_kl under 0.02; uniform noise images score roughly 400, 1,800 and 50,000. FD values
are only comparable within one dataset's evaluator.
"""

from models.evaluation.classifier import (
    EVALUATOR_DATASETS,
    Evaluator,
    EvaluatorConfig,
    EvaluatorNet,
    load_evaluator,
)
from models.evaluation.metrics import QualityFigures, evaluate_images, frechet_distance, real_floor

__all__ = [
    "EVALUATOR_DATASETS",
    "Evaluator",
    "EvaluatorConfig",
    "EvaluatorNet",
    "QualityFigures",
    "evaluate_images",
    "frechet_distance",
    "load_evaluator",
    "real_floor",
]
