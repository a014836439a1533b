"""DiffAugment: each transform does what the paper's does, keeps gradients, and is seeded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.training import TrainConfig, Trainer, run_files
from models.training.augment import DiffAugment, cutout, parse_policy, translation
from tests.support.checkpoints import without_training_time
from tests.support.configs import TINY_TRAINING


def test_policy_parsing() -> None:
    assert parse_policy("") == ()
    assert parse_policy(" translation , cutout ") == ("translation", "cutout")
    with pytest.raises(ValueError, match="unknown augmentation 'rotate'"):
        parse_policy("rotate")
    assert not DiffAugment("", 0) and DiffAugment("cutout", 0)


def test_translation_shifts_whole_images_and_fills_with_zero() -> None:
    image = torch.zeros(64, 1, 16, 16)
    image[:, :, 7, 9] = 1.0  # one lit pixel; translation moves it by at most 2 (16 / 8)
    shifted = translation(image, torch.Generator().manual_seed(0))
    positions = [torch.nonzero(one[0]).tolist() for one in shifted]
    assert all(len(p) == 1 for p in positions)  # the pixel survives, nothing else appears
    moves = {(y - 7, x - 9) for [[y, x]] in positions}
    assert all(abs(dy) <= 2 and abs(dx) <= 2 for dy, dx in moves)
    assert len(moves) > 5  # each image draws its own shift
    filled = translation(torch.ones(64, 1, 16, 16), torch.Generator().manual_seed(0))
    assert set(filled.unique().tolist()) <= {0.0, 1.0} and (filled == 0).any()


def test_cutout_zeroes_one_square_of_half_the_size() -> None:
    out = cutout(torch.ones(32, 3, 16, 16), torch.Generator().manual_seed(0))
    for image in out:
        holes = torch.nonzero(image[0] == 0)
        assert (image == 0).all(dim=0).eq(image[0] == 0).all()  # same hole in every channel
        if len(holes):
            (top, left), (bottom, right) = holes.min(0).values, holes.max(0).values
            assert len(holes) == (bottom - top + 1) * (right - left + 1)  # a filled rectangle
            assert bottom - top + 1 <= 8 and right - left + 1 <= 8
    assert sum(int((image[0] == 0).sum()) == 64 for image in out) > 8  # mostly whole squares


def test_augmentation_is_differentiable_and_seeded() -> None:
    x = torch.randn(8, 3, 16, 16, requires_grad=True)
    policy = "color,translation,cutout"
    out = DiffAugment(policy, seed=5)(x)
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    again = DiffAugment(policy, seed=5)(x.detach())
    assert torch.equal(out.detach(), again)
    assert not torch.equal(again, DiffAugment(policy, seed=6)(x.detach()))


def test_training_with_augmentation_changes_the_run(tmp_path: Path) -> None:
    base = {**TINY_TRAINING, "steps": 4, "checkpoint_every": 4, "device": "cpu"}
    plain = Trainer(TrainConfig.from_dict(base), tmp_path / "plain").run()
    augmented = Trainer(
        TrainConfig.from_dict({**base, "augment": "translation"}), tmp_path / "augmented"
    ).run()
    assert plain.checkpoint and augmented.checkpoint
    # The weights, not the header (whose config differs anyway).
    a = without_training_time(run_files.checkpoint_path(tmp_path / "plain", 4))[1]
    b = without_training_time(run_files.checkpoint_path(tmp_path / "augmented", 4))[1]
    assert a != b
