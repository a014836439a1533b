"""Recipes: every field a request leaves out is chosen from the data, and only those."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.specs import TrainingSpec
from models.data.facts import DataFacts, folder_facts
from models.training import TrainConfig
from models.training.recipes import CHOSEN_FIELDS, buildable_size, resolve_recipe

DIGITS = DataFacts(image_size=8, channels=1, num_images=1797, num_classes=10)
PHOTOS = DataFacts(image_size=100, channels=3, num_images=400, num_classes=0)


def test_labelled_data_gets_a_conditional_model_at_its_own_size() -> None:
    recipe = resolve_recipe(DIGITS, {"dataset": "digits"}, max_image_size=256)
    fields = recipe.fields
    assert (fields["architecture"], fields["image_size"], fields["channels"]) == ("cdcgan", 8, 1)
    assert (fields["g_width"], fields["d_width"], fields["steps"]) == (32, 32, 10_000)
    assert set(recipe.reasons) == {"architecture", "image_size", "channels", "g_width", "d_width", "steps"}
    assert "10 classes" in recipe.reasons["architecture"]
    assert set(recipe.reasons) <= set(CHOSEN_FIELDS)  # what the CLI's help calls "chosen"
    # A whole spec, which the engine accepts as it is.
    assert set(fields) == set(TrainingSpec.model_fields)
    TrainConfig.from_dict(fields)


def test_what_the_request_set_is_kept_even_when_it_equals_a_default() -> None:
    given = {"dataset": "digits", "architecture": "dcgan", "steps": 1000, "image_size": 16}
    recipe = resolve_recipe(DIGITS, given, max_image_size=256)
    assert {key: recipe.fields[key] for key in given} == given
    assert "architecture" not in recipe.reasons and "steps" not in recipe.reasons


def test_unlabelled_photos_snap_down_to_a_buildable_size_within_the_server_limit() -> None:
    fields = resolve_recipe(PHOTOS, {}, max_image_size=256).fields
    assert (fields["architecture"], fields["image_size"], fields["channels"]) == ("dcgan", 64, 3)
    assert fields["steps"] == 4000
    assert resolve_recipe(PHOTOS, {}, max_image_size=32).fields["image_size"] == 32


@pytest.mark.parametrize(
    ("architecture", "side", "limit", "size"),
    [("dcgan", 32, 256, 32), ("dcgan", 5, 256, 8), ("dcgan", 300, 256, 256), ("gan", 20, 256, 20)],
)
def test_buildable_size(architecture: str, side: int, limit: int, size: int) -> None:
    assert buildable_size(architecture, side, limit) == size


def test_unknown_format_leaves_size_and_channels_to_the_loader() -> None:
    fields = resolve_recipe(DataFacts(None, None, None, 0), {}, max_image_size=256).fields
    assert fields["image_size"] is None and fields["channels"] is None
    assert fields["steps"] == TrainingSpec().steps


def test_folder_facts_read_headers_by_the_loaders_class_rule(tmp_path: Path) -> None:
    for name, count in (("circles", 3), ("squares", 2)):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.fromarray(np.zeros((32, 48), np.uint8), mode="L").save(tmp_path / name / f"{i}.png")
    (tmp_path / "loose.png").write_bytes(b"not in a class: skipped")
    (tmp_path / "circles" / "notes.txt").write_text("not an image")
    assert folder_facts(tmp_path) == DataFacts(image_size=32, channels=1, num_images=5, num_classes=2)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "squares" / "rgb.png")
    assert folder_facts(tmp_path).channels == 3


def test_chosen_values_stay_within_the_servers_limits() -> None:
    recipe = resolve_recipe(DIGITS, {}, max_image_size=256, max_steps=100, max_batch_size=32)
    assert (recipe.fields["steps"], recipe.fields["batch_size"]) == (100, 32)
    assert "this server's limit" in recipe.reasons["steps"] and "10,000" in recipe.reasons["steps"]
    # What the request set is its own, limit or not: the server judges it afterwards.
    assert resolve_recipe(DIGITS, {"steps": 500}, max_image_size=256, max_steps=100).fields["steps"] == 500
