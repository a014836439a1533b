"""Checkpoint files: self-describing, atomic, verified, never unpickled."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import pytest
import torch

from models.architectures import build_discriminator, build_generator, make_model_config
from models.checkpoint import (
    CheckpointError,
    export_generator,
    load_checkpoint,
    load_generator,
    read_checkpoint_info,
    save_checkpoint,
    section,
    with_prefix,
)
from models.inference import generate_images, latents_for_seeds

CONFIG = make_model_config("dcgan", image_size=8, channels=1, latent_dim=8, g_width=4, d_width=4)


def write(path: Path, step: int = 5) -> torch.nn.Module:
    torch.manual_seed(step)
    generator = build_generator(CONFIG)
    save_checkpoint(
        path,
        with_prefix("generator", generator.state_dict()),
        kind="generator",
        step=step,
        model_config=CONFIG,
        train_config={"dataset": "digits"},
        metrics={"loss_g": 1.0},
    )
    return generator.eval()


def test_round_trip_rebuilds_the_generator_from_the_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "g.safetensors"
    original = write(path)
    loaded, info = load_generator(path)
    assert info.step == 5 and info.kind == "generator" and info.model_config == CONFIG
    assert info.train_config == {"dataset": "digits"} and info.metrics == {"loss_g": 1.0}
    latents = latents_for_seeds([1, 2, 3], 8)
    assert (generate_images(original, latents) == generate_images(loaded, latents)).all()
    assert not loaded.training
    assert read_checkpoint_info(path).content_sha256 == info.content_sha256
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_info_codes_round_trip_with_the_q_head(tmp_path: Path) -> None:
    config = make_model_config(
        "dcgan", image_size=8, channels=1, latent_dim=8, g_width=4, d_width=4, info_codes=4
    )
    torch.manual_seed(0)
    generator, discriminator = build_generator(config), build_discriminator(config)
    tensors = with_prefix("generator", generator.state_dict())
    tensors |= with_prefix("discriminator", discriminator.state_dict())
    path = tmp_path / "info.safetensors"
    save_checkpoint(path, tensors, kind="training", step=1, model_config=config, train_config={})
    loaded, info = load_generator(path)
    assert info.model_config == config and info.model_config.info_codes == 4
    latents = latents_for_seeds(range(8), 8)
    assert (generate_images(generator.eval(), latents) == generate_images(loaded, latents)).all()
    _, stored = load_checkpoint(path)
    assert "discriminator.code_head.weight" in stored
    rebuilt = build_discriminator(info.model_config)
    rebuilt.load_state_dict(section(stored, "discriminator"), strict=True)


def test_truncated_file_gives_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "g.safetensors"
    write(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=str(path)):
        load_generator(path)


def test_tampered_weights_fail_the_content_hash(tmp_path: Path) -> None:
    path = tmp_path / "g.safetensors"
    write(path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # inside the last tensor's bytes; the header still parses
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="hash mismatch"):
        load_checkpoint(path)


def test_pickle_payload_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "step-00000010.safetensors"
    path.write_bytes(pickle.dumps(Payload()))
    torch.save({"x": torch.zeros(1)}, tmp_path / "torch.safetensors")
    for candidate in (path, tmp_path / "torch.safetensors"):
        with pytest.raises(CheckpointError):
            load_generator(candidate)
    assert not marker.exists()


def test_foreign_safetensors_file_is_rejected(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not a ganserve checkpoint"):
        read_checkpoint_info(path)
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint_info(tmp_path / "missing.safetensors")


def test_failed_write_leaves_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "g.safetensors"
    write(path, step=1)
    before = path.read_bytes()
    bad = {"generator.x": torch.zeros(1)}
    blocked = tmp_path / "blocked.safetensors"
    blocked.mkdir()  # a directory where the file should go: the rename fails
    with pytest.raises(OSError):
        save_checkpoint(blocked, bad, kind="generator", step=2, model_config=CONFIG, train_config={})
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_export_keeps_only_generator_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    generator = build_generator(CONFIG)
    tensors = with_prefix("generator", generator.state_dict())
    tensors |= with_prefix("generator_ema", generator.state_dict())
    tensors["discriminator.w"] = torch.ones(1000)
    source = tmp_path / "full.safetensors"
    save_checkpoint(source, tensors, kind="training", step=3, model_config=CONFIG, train_config={})
    exported = export_generator(source, tmp_path / "small.safetensors")
    assert exported.kind == "generator" and exported.has_ema
    assert all(n.startswith("generator_ema.") for n in exported.tensor_names)
    loaded, _ = load_generator(exported.path)
    assert torch.equal(loaded.state_dict()["net.0.weight"], generator.state_dict()["net.0.weight"])


def test_the_header_says_when_the_state_was_trained_and_a_copy_keeps_it(tmp_path: Path) -> None:
    tensors = with_prefix("generator", build_generator(CONFIG).state_dict())
    before = time.time()
    source = tmp_path / "full.safetensors"
    written = save_checkpoint(source, tensors, kind="training", step=3, model_config=CONFIG, train_config={})
    assert written.trained_at is not None and before <= written.trained_at <= time.time()
    assert read_checkpoint_info(source).trained_at == written.trained_at
    os.utime(source, (1.0, 1.0))  # copying a file changes its time, never what it says
    assert export_generator(source, tmp_path / "copy.safetensors").trained_at == written.trained_at
    pinned = save_checkpoint(
        tmp_path / "p.safetensors",
        tensors,
        kind="generator",
        step=3,
        model_config=CONFIG,
        train_config={},
        trained_at=5.0,
    )
    assert pinned.trained_at == 5.0 == read_checkpoint_info(pinned.path).trained_at
