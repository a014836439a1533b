"""Plans are plain data listing their passes; executing them merges passes without changing bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from app.rendering.execute import render, run_plans
from app.rendering.plans import FrameRows, PlannedPass, SeedRows, plan_interpolation, plan_seeds
from app.services.models.entries import LoadedModel
from app.services.models.registry import ModelRegistry
from models.inference import MAX_PASS_ROWS, SamplingError
from tests.app.tiny_models import write_tiny_model


@pytest.fixture
def model(data_dir: Path) -> LoadedModel:
    write_tiny_model(data_dir / "models", "cond", architecture="cdcgan", num_classes=3)
    return ModelRegistry(data_dir / "models", None, cache_size=1, device="cpu").acquire("cond")


def test_a_plan_lists_its_passes_by_the_one_pass_size_rule(model: LoadedModel) -> None:
    count = 2 * MAX_PASS_ROWS + 6
    plan = plan_seeds(model, range(5, 5 + count), truncation=0.7, label=None, columns=8, image_format="png")
    assert plan.source == SeedRows(tuple(range(5, 5 + count)), 0.7)
    assert plan.passes == (
        PlannedPass(range(0, MAX_PASS_ROWS)),
        PlannedPass(range(MAX_PASS_ROWS, 2 * MAX_PASS_ROWS)),
        PlannedPass(range(2 * MAX_PASS_ROWS, count)),
    )
    assert plan.labels == tuple(seed % 3 for seed in range(5, 5 + count))
    # Plain data: the same request plans equal, and nothing in it is a function.
    again = plan_seeds(model, range(5, 5 + count), truncation=0.7, label=None, columns=8, image_format="png")
    assert plan == again


def test_interpolation_plan_follows_the_label_rule(model: LoadedModel) -> None:
    plan = plan_interpolation(
        model, 7, 12, steps=5, mode="lerp", truncation=None, label=None, image_format="png"
    )
    assert plan.source == FrameRows(7, 12, 5, "lerp", None)
    assert plan.labels == (1, 1, 1, 0, 0) and plan.columns == 5
    with pytest.raises(SamplingError, match=r"label must be in 0\.\.2"):
        plan_interpolation(model, 7, 12, steps=5, mode="lerp", truncation=None, label=3, image_format="png")


def test_merged_passes_give_every_request_its_own_bytes(model: LoadedModel) -> None:
    # 40 rows split 32 + 8, then one-row requests merged into the 8-row pass: passes cross request
    # boundaries, and each request's images still equal those it gets alone.
    big = plan_seeds(model, range(100, 140), truncation=None, label=None, columns=None, image_format="png")
    small = [
        plan_seeds(model, [seed], truncation=None, label=1, columns=None, image_format="png")
        for seed in range(3)
    ]
    plans = [big, *small]
    images, _ = run_plans(model, plans)
    for plan, batched in zip(plans, images, strict=True):
        (alone,), _ = run_plans(model, [plan])
        assert not isinstance(batched, Exception) and not isinstance(alone, Exception)
        assert (batched == alone).all()
    # And the big grid's tiles are the images of its seeds asked for one by one.
    singles = [
        plan_seeds(model, [seed], truncation=None, label=None, columns=None, image_format="png")
        for seed in (100, 131, 132, 139)
    ]
    grid = images[0]
    assert not isinstance(grid, Exception)
    for tile, plan in zip((0, 31, 32, 39), singles, strict=True):
        (single,), _ = run_plans(model, [plan])
        assert not isinstance(single, Exception)
        assert torch.equal(torch.from_numpy(grid[tile]), torch.from_numpy(single[0]))
    assert render(model, big).tiles == 40
