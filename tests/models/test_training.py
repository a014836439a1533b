"""The training loop: determinism, exact resume, every loss, cooperative stop, clear errors."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytest
import torch

from models.checkpoint import load_checkpoint, load_generator
from models.divergences import F_DIVERGENCES
from models.losses import FGANLoss
from models.training import TrainConfig, Trainer, run_files, train
from models.training.clusters import balanced_kmeans, features
from tests.support.checkpoints import without_training_time
from tests.support.configs import TINY_TRAINING

TINY = {
    **TINY_TRAINING,
    "steps": 12,
    "checkpoint_every": 6,
    "sample_every": 6,
    "sample_count": 8,
    "device": "cpu",
}


def config(**changes: object) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, **changes})


def tensors_at(run_dir: Path, step: int) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_files.checkpoint_path(run_dir, step))[1]


def assert_resumes_exactly(run: TrainConfig, whole: Path, resumed: Path) -> None:
    """Stopping ``run`` after 8 steps and resuming it gives step 12's checkpoint of ``whole``,
    byte for byte."""
    stop = iter([False] * 8 + [True] * 100)
    Trainer(run, resumed, should_stop=lambda: next(stop)).run()
    Trainer(run, resumed).run()
    assert without_training_time(run_files.checkpoint_path(resumed, 12)) == without_training_time(
        run_files.checkpoint_path(whole, 12)
    )


def test_run_writes_checkpoints_grids_and_metrics(tmp_path: Path) -> None:
    result = train(config(), tmp_path / "run")
    run = tmp_path / "run"
    assert result.status == "completed" and result.step == 12
    assert run_files.checkpoint_steps(run) == [6, 12]
    assert run_files.sample_steps(run) == [0, 6, 12]
    records = run_files.read_metrics(run)
    assert [r["step"] for r in records] == [6, 12]
    assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in records)
    _generator, info = load_generator(result.checkpoint)  # type: ignore[arg-type]
    assert info.has_ema and info.train_config["steps"] == 12


def test_same_seed_gives_bitwise_identical_checkpoints(tmp_path: Path) -> None:
    train(config(), tmp_path / "a")
    train(config(), tmp_path / "b")
    for step in (6, 12):
        a, b = (run_files.checkpoint_path(tmp_path / run, step) for run in ("a", "b"))
        # Every byte but the header's `trained_at`: when each run wrote its file.
        assert without_training_time(a) == without_training_time(b)
        assert a.read_bytes() != b.read_bytes()
    train(config(seed=1), tmp_path / "c")
    assert not torch.equal(
        tensors_at(tmp_path / "a", 12)["generator.net.0.weight"],
        tensors_at(tmp_path / "c", 12)["generator.net.0.weight"],
    )


@pytest.mark.parametrize("augment", ["", "color,translation,cutout"])
def test_resume_after_stop_equals_uninterrupted(tmp_path: Path, augment: str) -> None:
    train(config(augment=augment), tmp_path / "straight")
    calls = {"n": 0}

    def stop_after_eight() -> bool:
        calls["n"] += 1
        return calls["n"] > 8  # stop before the 9th step: between two checkpoints

    first = Trainer(config(augment=augment), tmp_path / "resumed", should_stop=stop_after_eight).run()
    assert first.status == "stopped" and first.step == 8
    assert run_files.checkpoint_steps(tmp_path / "resumed") == [6, 8]
    # a resumed run draws the augmentations the uninterrupted one drew (its RNG state is saved)
    second = Trainer(config(augment=augment), tmp_path / "resumed").run()
    assert second.status == "completed" and second.step == 12
    straight, resumed = tensors_at(tmp_path / "straight", 12), tensors_at(tmp_path / "resumed", 12)
    assert straight.keys() == resumed.keys()
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name
    assert [r["step"] for r in run_files.read_metrics(tmp_path / "resumed")] == [6, 8, 12]


def test_extending_a_finished_run_continues_it(tmp_path: Path) -> None:
    train(config(steps=6), tmp_path / "run")
    result = train(config(steps=12), tmp_path / "run")
    assert result.step == 12
    straight = tmp_path / "straight"
    train(config(), straight)
    assert torch.equal(
        tensors_at(tmp_path / "run", 12)["generator_ema.net.0.weight"],
        tensors_at(straight, 12)["generator_ema.net.0.weight"],
    )


def test_resume_refuses_a_different_run(tmp_path: Path) -> None:
    train(config(steps=6), tmp_path / "run")
    with pytest.raises(ValueError, match="different config"):
        train(config(steps=12, loss="hinge"), tmp_path / "run")


def test_a_config_saved_before_divergence_weight_existed_continues_its_run() -> None:
    # Checkpoints and config.json files written before the field have no divergence_weight:
    # they read as null (pi = 1/2), so such a run resumes, and a run with another pi is another.
    current = config(loss="fgan", divergence="js-weighted")
    saved = current.to_dict()
    del saved["divergence_weight"]
    assert TrainConfig.from_dict(saved).same_run_as(current)
    assert not TrainConfig.from_dict(saved).same_run_as(current.replace(divergence_weight=0.3))


LOSS_CASES = [
    ("minimax", None),
    ("nonsaturating", None),
    ("lsgan", None),
    ("hinge", None),
    ("wgan-gp", None),
] + [("fgan", d) for d in F_DIVERGENCES]


@pytest.mark.parametrize(("loss", "divergence"), LOSS_CASES)
@pytest.mark.parametrize("architecture", ["dcgan", "gan"])
def test_every_loss_trains_without_nan(
    tmp_path: Path, loss: str, divergence: str | None, architecture: str
) -> None:
    fields: dict[str, object] = {
        "steps": 4,
        "checkpoint_every": 4,
        "sample_every": 4,
        "loss": loss,
        "divergence": divergence,
        "architecture": architecture,
        "lr_g": 1e-3,
        "lr_d": 1e-3,
    }
    seen: list[dict[str, float]] = []
    trainer = Trainer(config(**fields), tmp_path, on_progress=lambda p: seen.append(p.losses))
    trainer.run()
    assert len(seen) >= 4
    assert all(math.isfinite(v) for losses in seen for v in losses.values())
    weights = tensors_at(tmp_path, 4)
    assert all(torch.isfinite(t).all() for t in weights.values() if t.is_floating_point())


def test_js_weighted_trains_with_the_configured_weight(tmp_path: Path) -> None:
    fields: dict[str, object] = {"loss": "fgan", "divergence": "js-weighted", "divergence_weight": 0.3}
    seen: list[dict[str, float]] = []
    run = config(steps=4, checkpoint_every=4, sample_every=4, **fields)
    trainer = Trainer(run, tmp_path, on_progress=lambda p: seen.append(p.losses))
    assert isinstance(trainer.loss, FGANLoss) and trainer.loss.weight == 0.3
    assert repr(trainer.loss) == "FGANLoss(divergence='js-weighted', weight=0.3)"
    trainer.run()
    assert len(seen) >= 4 and all(math.isfinite(v) for losses in seen for v in losses.values())


@pytest.mark.parametrize("architecture", ["cgan", "cdcgan"])
def test_conditional_models_train_and_sample_by_label(tmp_path: Path, architecture: str) -> None:
    result = train(config(architecture=architecture, steps=4, checkpoint_every=4), tmp_path)
    generator, info = load_generator(result.checkpoint)  # type: ignore[arg-type]
    assert info.model_config.num_classes == 10
    with torch.no_grad():
        images = generator(torch.zeros(2, 16), torch.tensor([3, 7]))
    assert images.shape == (2, 1, 8, 8)


def test_wgan_gp_critic_has_no_batchnorm(tmp_path: Path) -> None:
    trainer = Trainer(config(loss="wgan-gp"), tmp_path)
    norms = [m for m in trainer.discriminator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"loss": "wasserstein"}, "unknown loss 'wasserstein'"),
        ({"architecture": "stylegan"}, "unknown architecture 'stylegan'"),
        ({"loss": "fgan"}, "needs divergence"),
        (
            {"divergence_weight": 0.3},
            "divergence_weight is only used with divergence 'js-weighted', got None",
        ),
        (
            {"loss": "fgan", "divergence": "js", "divergence_weight": 0.3},
            "divergence_weight is only used with divergence 'js-weighted', got 'js'",
        ),
        (
            {"loss": "fgan", "divergence": "js-weighted", "divergence_weight": 1.0},
            "divergence_weight: Input should be less than 1",
        ),
        (
            {"loss": "fgan", "divergence": "js-weighted", "divergence_weight": 0.0},
            "divergence_weight: Input should be greater than 0",
        ),
        ({"steps": 0}, "steps: Input should be greater than or equal to 1"),
        ({"image_size": 30}, "image_size|image size"),
        ({"dataset": "imagenet"}, "imagenet"),
        ({"architecture": "cdcgan", "dataset": "folder"}, "folder|path"),
        ({"augment": "translation,flip"}, "unknown augmentation 'flip'"),
        ({"augment": "cutout,cutout"}, "twice"),
        ({"lr_decay": "cosine"}, "unknown lr_decay 'cosine'"),
        ({"d_norm": "instance"}, "unknown d_norm 'instance'"),
        ({"d_norm": "batch", "loss": "wgan-gp"}, "per sample"),
        ({"pack": 3}, "divisible by pack"),
        ({"pack": 2, "loss": "wgan-gp"}, "pack > 1 cannot"),
        ({"pack": 0}, "pack: Input should be greater than or equal to 1"),
        ({"info_codes": 1}, "info_codes must be 0 .off. or at least 2"),
        ({"info_codes": 17}, "at most latent_dim"),
        ({"info_codes": 4, "architecture": "gan"}, "info_codes needs architecture dcgan"),
        ({"info_codes": 10, "architecture": "cdcgan"}, "info_codes needs architecture dcgan"),
        ({"info_weight": -1.0}, "info_weight: Input should be greater than or equal to 0"),
        ({"r1_weight": -1.0}, "r1_weight: Input should be greater than or equal to 0"),
        ({"clusters": 1}, "clusters must be 0 .off. or at least 2"),
        ({"clusters": 4, "architecture": "cdcgan"}, "clusters needs architecture dcgan"),
        ({"clusters": 4, "info_codes": 4}, "clusters and info_codes cannot be used together"),
        ({"r1_weight": float("inf")}, "r1_weight: Input should be a finite number"),
        ({"d_conditioning": "concat", "architecture": "cdcgan"}, "unknown d_conditioning 'concat'"),
        ({"d_conditioning": "projection"}, "d_conditioning is for a DCGAN whose D reads a label"),
        ({"d_conditioning": "map", "architecture": "cgan"}, "got 'cgan'"),
        (
            {"d_conditioning": "projection", "architecture": "cdcgan", "pack": 2},
            "d_conditioning 'projection' needs pack 1",
        ),
    ],
)
def test_bad_configs_give_clear_errors(tmp_path: Path, fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Trainer(config(**fields), tmp_path)


def test_unknown_field_is_named() -> None:
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})


def test_global_rng_is_left_alone(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(config(steps=2, checkpoint_every=2), tmp_path)
    assert torch.equal(torch.rand(3), expected)


def test_default_intervals_scale_with_the_run() -> None:
    short = TrainConfig(steps=200)
    assert (short.checkpoint_interval, short.sample_interval) == (20, 10)
    long = TrainConfig(steps=1_000_000)
    assert (long.checkpoint_interval, long.sample_interval) == (1000, 500)
    assert TrainConfig(steps=200, checkpoint_every=7).checkpoint_interval == 7
    with pytest.raises(ValueError, match="checkpoint_every"):
        TrainConfig(checkpoint_every=0)


def test_training_does_not_depend_on_the_ambient_kernel_flag(tmp_path: Path) -> None:
    train(config(steps=3, checkpoint_every=3), tmp_path / "default")
    torch.backends.mkldnn.enabled = False  # what a serving process in the same interpreter does
    try:
        train(config(steps=3, checkpoint_every=3), tmp_path / "served")
    finally:
        torch.backends.mkldnn.enabled = True
    assert without_training_time(run_files.checkpoint_path(tmp_path / "default", 3)) == without_training_time(
        run_files.checkpoint_path(tmp_path / "served", 3)
    )


def test_step_listings_follow_their_folder(tmp_path: Path) -> None:
    grids = run_files.samples_dir(tmp_path)
    grids.mkdir()
    run_files.sample_path(tmp_path, 0).write_bytes(b"png")
    long_ago = time.time() - 60
    os.utime(grids, (long_ago, long_ago))  # old enough for the cached listing to be trusted
    assert run_files.sample_steps(tmp_path) == [0]
    assert run_files.sample_steps(tmp_path) == [0]  # from the cache
    run_files.sample_path(tmp_path, 5).write_bytes(b"png")  # changes the folder's mtime
    assert run_files.sample_steps(tmp_path) == [0, 5]
    run_files.sample_path(tmp_path, 0).unlink()
    assert run_files.sample_steps(tmp_path) == [5]


def test_linear_lr_decay_reaches_zero_at_the_last_step(tmp_path: Path) -> None:
    trainer = Trainer(config(lr_decay="linear", lr_g=1e-3, lr_d=2e-3), tmp_path)
    seen: list[tuple[float, float]] = []
    for _ in range(12):
        trainer.train_step()
        seen.append((trainer.opt_g.param_groups[0]["lr"], trainer.opt_d.param_groups[0]["lr"]))
    assert seen[0] == pytest.approx((1e-3, 2e-3))
    assert seen[6] == pytest.approx((1e-3 * 6 / 12, 2e-3 * 6 / 12))
    assert seen[-1] == pytest.approx((1e-3 / 12, 2e-3 / 12))
    constant = Trainer(config(lr_g=1e-3), tmp_path / "constant")
    for _ in range(12):
        constant.train_step()
    assert constant.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3)


def test_resume_with_lr_decay_equals_uninterrupted(tmp_path: Path) -> None:
    train(config(lr_decay="linear"), tmp_path / "straight")
    assert_resumes_exactly(config(lr_decay="linear"), tmp_path / "straight", tmp_path / "resumed")
    straight = without_training_time(run_files.checkpoint_path(tmp_path / "straight", 12))[1]
    assert straight != without_training_time(train(config(), tmp_path / "flat").checkpoint or Path())[1]


@pytest.mark.parametrize("d_norm", ["none", "layer"])
def test_d_norm_override_removes_batchnorm_from_d(tmp_path: Path, d_norm: str) -> None:
    # at 16x16 D has a hidden layer to normalise (at the native 8x8 it has none)
    trainer = Trainer(config(d_norm=d_norm, image_size=16), tmp_path)
    assert trainer.model_config.d_norm == d_norm
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in trainer.discriminator.modules())
    default = Trainer(config(image_size=16), tmp_path / "default")
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in default.discriminator.modules())


def test_packed_discriminator_trains_and_resumes(tmp_path: Path) -> None:
    result = train(config(pack=2), tmp_path / "packed")
    assert result.status == "completed" and result.model_config.d_pack == 2
    first_conv = tensors_at(tmp_path / "packed", 12)["discriminator.net.0.weight"]
    assert first_conv.shape[1] == 2  # two one-channel images side by side
    assert_resumes_exactly(config(pack=2), tmp_path / "packed", tmp_path / "resumed")


def test_info_codes_q_loss_falls_and_is_logged(tmp_path: Path) -> None:
    fields = {
        "info_codes": 4,
        "g_width": 8,
        "d_width": 8,
        "lr_g": 2e-3,
        "lr_d": 2e-3,
        "steps": 40,
        "checkpoint_every": 20,
    }
    seen: list[dict[str, float]] = []
    trainer = Trainer(config(**fields), tmp_path, on_progress=lambda p: seen.append(p.losses))
    result = trainer.run()
    assert result.model_config.info_codes == 4  # type: ignore[union-attr]
    q_losses = [losses["loss_info"] for losses in seen if "loss_info" in losses]
    assert len(q_losses) >= 40
    assert sum(q_losses[:5]) / 5 > 0.9 * math.log(4)  # Q starts at chance
    assert sum(q_losses[-5:]) / 5 < 0.5 * math.log(4)  # and learns to read the code
    assert [r["step"] for r in run_files.read_metrics(tmp_path)] == [20, 40]
    assert all("loss_info" in r for r in run_files.read_metrics(tmp_path))
    _generator, info = load_generator(result.checkpoint)  # type: ignore[arg-type]
    assert info.model_config.info_codes == 4 and info.train_config["info_codes"] == 4
    assert "discriminator.code_head.weight" in tensors_at(tmp_path, 40)


def test_info_codes_with_packs_train_and_resume_exactly(tmp_path: Path) -> None:
    fields = {"info_codes": 4, "pack": 2}
    result = train(config(**fields), tmp_path / "whole")
    assert result.model_config.info_codes == 4 and result.model_config.d_pack == 2  # type: ignore[union-attr]
    head = tensors_at(tmp_path / "whole", 12)["discriminator.code_head.weight"]
    assert head.shape[0] == 2 * 4  # four code logits for each sample of a pair
    assert_resumes_exactly(config(**fields), tmp_path / "whole", tmp_path / "resumed")


def test_r1_penalty_changes_the_discriminator_and_resumes_exactly(tmp_path: Path) -> None:
    plain = train(config(), tmp_path / "plain")
    penalised = train(config(r1_weight=10.0), tmp_path / "r1")
    assert penalised.step == plain.step == 12
    d_plain = tensors_at(tmp_path / "plain", 12)["discriminator.net.0.weight"]
    d_r1 = tensors_at(tmp_path / "r1", 12)["discriminator.net.0.weight"]
    assert not torch.equal(d_plain, d_r1)
    assert_resumes_exactly(config(r1_weight=10.0), tmp_path / "r1", tmp_path / "resumed")


def test_self_conditioned_run_uses_balanced_clusters_and_resumes_exactly(tmp_path: Path) -> None:
    trainer = Trainer(config(clusters=4), tmp_path / "whole")
    assert trainer.clusters is not None
    assert torch.equal(
        trainer.clusters, balanced_kmeans(features(trainer.dataset.images), 4, TINY_TRAINING.get("seed", 0))
    )
    counts = torch.bincount(trainer.clusters, minlength=4)
    assert int(counts.max() - counts.min()) <= 1
    result = trainer.run()
    assert result.model_config.info_codes == 4 and result.model_config.self_conditioned  # type: ignore[union-attr]
    tensors = tensors_at(tmp_path / "whole", 12)
    assert "discriminator.label_embedding.weight" in tensors
    assert not any(key.startswith("discriminator.code_head") for key in tensors)
    _generator, info = load_generator(result.checkpoint)  # type: ignore[arg-type]
    assert info.model_config.num_classes == 0  # samples like an unconditional model
    assert_resumes_exactly(config(clusters=4), tmp_path / "whole", tmp_path / "resumed")


def test_more_clusters_than_images_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"clusters \(12\) must be at most the number of images"):
        Trainer(config(clusters=12, num_images=10), tmp_path)


def test_spectral_norm_and_projection_train_and_resume_exactly(tmp_path: Path) -> None:
    fields = {
        "architecture": "cdcgan",
        "spectral_norm": True,
        "d_conditioning": "projection",
        "loss": "hinge",
    }
    result = train(config(**fields), tmp_path / "whole")
    cfg = result.model_config
    assert result.status == "completed"
    assert cfg.d_spectral_norm and cfg.d_conditioning == "projection"  # type: ignore[union-attr]
    tensors = tensors_at(tmp_path / "whole", 12)
    # The power iteration's vectors are saved with D, so a resumed run normalises as before.
    assert "discriminator.net.0.parametrizations.weight.0._u" in tensors
    assert "discriminator.class_projection.parametrizations.weight.original" in tensors
    assert_resumes_exactly(config(**fields), tmp_path / "whole", tmp_path / "resumed")
