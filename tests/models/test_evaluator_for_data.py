"""The evaluator for a dataset: shipped for the built-ins, else trained on the data (when
every class has 50 images) and cached by the data's content, never trusted when unreadable."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.data import load_dataset
from models.data.dataset import ImageDataset
from models.evaluation.for_data import (
    content_sha256,
    evaluator_for,
    evaluator_view,
    recipe_for,
    why_no_evaluator,
)
from models.evaluation.training import EvaluatorRecipe, EvaluatorTrainingStopped
from tests.support.class_images import write_class_folders

QUICK = EvaluatorRecipe(epochs=20, max_shift=1, flips=False)


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> ImageDataset:
    root = write_class_folders(tmp_path_factory.mktemp("blobs"), {"circles": 60, "squares": 60}, side=16)
    return load_dataset("folder", path=root, image_size=16, channels=1)


def test_why_not_names_what_is_missing(blobs: ImageDataset) -> None:
    assert why_no_evaluator(blobs) is None
    unlabelled = ImageDataset(blobs.images, None, (), "folder")
    assert "no classes" in str(why_no_evaluator(unlabelled))
    single = ImageDataset(blobs.images, torch.zeros(len(blobs), dtype=torch.int64), ("all",), "folder")
    assert "single class" in str(why_no_evaluator(single))
    labels = blobs.labels
    assert labels is not None
    keep = torch.cat([torch.nonzero(labels == 0).flatten(), torch.nonzero(labels == 1).flatten()[:49]])
    short = ImageDataset(blobs.images[keep], labels[keep], blobs.class_names, "folder")
    assert why_no_evaluator(short) == "an evaluator needs at least 50 images in every class: 'squares' has 49"
    with pytest.raises(ValueError, match="'squares' has 49"):
        evaluator_for(short, Path("unused"))


def test_a_trained_evaluator_is_cached_by_content_and_reused(blobs: ImageDataset, tmp_path: Path) -> None:
    first = evaluator_for(blobs, tmp_path, recipe=QUICK)
    assert first.kind == "trained for this dataset" and not first.cached and first.train_seconds > 0
    assert first.heldout_accuracy >= 0.9
    assert first.evaluator.class_names == ("circles", "squares")
    cached = tmp_path / "evaluators" / f"{first.content_sha256}.safetensors"
    assert cached.is_file() and not list(cached.parent.glob(".*partial"))
    again = evaluator_for(blobs, tmp_path, recipe=QUICK)
    assert again.cached and again.train_seconds == 0 and again.content_sha256 == first.content_sha256
    images, _ = blobs.batch(torch.arange(20))
    assert torch.equal(first.evaluator.predict(images), again.evaluator.predict(images))

    # Other content, another key.
    flipped = ImageDataset(blobs.images.flip(-1), blobs.labels, blobs.class_names, "folder")
    assert content_sha256(flipped) != first.content_sha256

    # A torn cache file is trained again, not trusted.
    cached.write_bytes(b"not an evaluator")
    rebuilt = evaluator_for(blobs, tmp_path, recipe=QUICK)
    assert not rebuilt.cached and rebuilt.heldout_accuracy >= 0.9


def test_training_stops_when_asked(blobs: ImageDataset, tmp_path: Path) -> None:
    with pytest.raises(EvaluatorTrainingStopped):
        evaluator_for(blobs, tmp_path, recipe=QUICK, should_stop=lambda: True)
    assert not (tmp_path / "evaluators").exists()


def test_builtin_data_uses_the_shipped_evaluator(tmp_path: Path) -> None:
    source = evaluator_for(load_dataset("digits"), tmp_path)
    assert source.kind == "shipped" and source.content_sha256 is None and source.evaluator.dataset == "digits"


def test_large_images_are_judged_shrunk_and_the_recipe_follows_the_data(blobs: ImageDataset) -> None:
    big = ImageDataset(torch.zeros(4, 3, 64, 64, dtype=torch.uint8), None, (), "folder")
    assert evaluator_view(big).image_size == 32 and evaluator_view(blobs) is blobs
    assert recipe_for(blobs).epochs == 120  # 96 training images: the most epochs
    many = ImageDataset(torch.zeros(20_000, 1, 16, 16, dtype=torch.uint8), None, (), "folder")
    assert recipe_for(many).epochs == 4 and recipe_for(many).max_shift == 1
