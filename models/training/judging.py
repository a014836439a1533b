"""The final judgement of a finished run, for its job record (``common.evaluations``).

After the last step the worker draws ``eval_samples`` images from the served generator and
judges them against the data the run learnt, with the data's evaluator
(``models.evaluation.for_data``: the shipped one, or one trained on the data and cached by its
content): FD against the real-versus-real floor at the same count, classes present, label
accuracy for a conditional model, and for every model the memorised share. Data without an
evaluator (no classes, or a class under 50 images) still gets the memorised share, in pixels,
and the record says why there is no FD.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from models.data import ImageDataset
from models.evaluation.for_data import EvaluatorSource, evaluator_for
from models.evaluation_report import judge_generator
from models.inference import prepare_for_serving


def judge_run(
    checkpoint: Path,
    dataset: ImageDataset,
    cache_dir: Path,
    samples: int,
    *,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """The record's ``evaluation`` for the model in ``checkpoint``, trained on ``dataset``.

    Raises:
        EvaluatorTrainingStopped: ``should_stop`` asked to stop while an evaluator trained.
    """
    started = time.perf_counter()
    if samples <= 0:
        return {"status": "skipped", "reason": "eval_samples is 0: no evaluation asked for"}
    if len(dataset) < 4:
        return {
            "status": "skipped",
            "reason": f"judging needs at least 4 images, the data has {len(dataset)}",
        }
    source: EvaluatorSource | None = None
    reason = None
    try:
        source = evaluator_for(dataset, cache_dir, should_stop=should_stop)
    except ValueError as error:
        reason = f"no FD: {error}"
    generator, info = prepare_for_serving(checkpoint)
    evaluator = None if source is None else source.evaluator
    report = judge_generator(generator, info.model_config, dataset, evaluator, samples)
    evaluation: dict[str, Any] = {
        "status": "done",
        "reason": reason,
        "samples": report["samples"],
        "memorization": report["memorization"],
    }
    if source is not None and "generated" in report:
        generated, floor = report["generated"], report["floor"]
        evaluation |= {
            "frechet_distance": generated["frechet_distance"],
            "floor_frechet_distance": floor["frechet_distance"],
            "fd_ratio": generated["frechet_distance"] / max(floor["frechet_distance"], 1e-12),
            "classes_present": generated["classes_present"],
            "num_classes": generated["num_classes"],
            "label_accuracy": generated["label_accuracy"],
            "evaluator": {
                "kind": source.kind,
                "heldout_accuracy": source.heldout_accuracy,
                "cached": source.cached,
                "train_seconds": round(source.train_seconds, 2),
                "content_sha256": source.content_sha256,
            },
        }
    evaluation["seconds"] = round(time.perf_counter() - started, 2)
    return evaluation
