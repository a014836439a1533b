"""The model registry's lookup on every GET /sample: what it looks at, and what it hands out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.services.models.registry import ModelRegistry
from models.training import run_files
from tests.app.tiny_models import write_tiny_model


@pytest.fixture
def registry(data_dir: Path) -> ModelRegistry:
    for step in (10, 20, 30):
        write_tiny_model(data_dir / "models", "many", step=step, seed=step)
    return ModelRegistry(data_dir / "models", None, cache_size=4, device="cpu")


def watch_checkpoint_stats(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The checkpoint files ``os.stat`` is asked about from now on, in order."""
    seen: list[str] = []
    real_stat = os.stat

    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if os.fspath(path).endswith(".safetensors"):
            seen.append(Path(path).name)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    return seen


def test_serving_looks_at_the_checkpoints_it_needs_only(
    registry: ModelRegistry, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert registry.acquire("many").step == 30
    assert registry.acquire("many@10").step == 10
    seen = watch_checkpoint_stats(monkeypatch)
    assert registry.acquire("many", cached_only=True).step == 30  # type: ignore[union-attr]
    assert registry.acquire("many@10", cached_only=True).step == 10  # type: ignore[union-attr]
    # One stat each (it notices a file replaced in place), not one per checkpoint of the model.
    assert seen == ["step-00000030.safetensors", "step-00000010.safetensors"]

    # A broken newest checkpoint: the lookup falls back, looking at the next one down.
    run_files.checkpoint_path(data_dir / "models" / "many", 40).write_bytes(b"not a checkpoint")
    assert registry.acquire("many", cached_only=True) is None  # its header is not read yet
    assert registry.acquire("many").step == 30
    seen.clear()
    assert registry.acquire("many", cached_only=True).step == 30  # type: ignore[union-attr]
    assert seen == ["step-00000040.safetensors", "step-00000030.safetensors"]
    # Listings still see every checkpoint.
    entry = registry.find("many")
    assert entry is not None and [c.step for c in entry.checkpoints] == [10, 20, 30, 40]
    assert entry.error is not None and "many/checkpoints/step-00000040.safetensors" in entry.error
    assert str(data_dir) not in entry.error


def test_a_loaded_model_is_handed_out_as_it_is(registry: ModelRegistry) -> None:
    by_name = registry.acquire("many")
    assert registry.acquire("many", cached_only=True) is by_name  # no copy per request
    pinned = registry.acquire("many@30", cached_only=True)
    assert pinned is not None and pinned.pinned and not by_name.pinned
    assert pinned.generator is by_name.generator and pinned.ref == by_name.ref == "many@30"
    assert registry.acquire("many@30", cached_only=True) is pinned
    assert registry.loaded_models() == [by_name]


def test_a_folder_whose_files_are_gone_is_no_model(registry: ModelRegistry, data_dir: Path) -> None:
    registry.acquire("many")
    for step in (10, 20, 30):
        run_files.checkpoint_path(data_dir / "models" / "many", step).unlink()
    with pytest.raises(LookupError, match="unknown model 'many'"):
        registry.acquire("many")
    with pytest.raises(LookupError, match="unknown model 'many'"):
        registry.acquire("many@30")
