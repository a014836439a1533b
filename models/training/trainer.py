"""The alternating GAN training loop (Goodfellow et al. 2014, Algorithm 1), resumable bit for bit.

Per step: ``d_steps`` discriminator updates on fresh minibatches, then one generator update;
then the EMA copy of the generator follows. All randomness comes from two CPU generators (data
order, noise) whose states are checkpointed, so a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from common.fs import write_atomic
from common.specs import upgrade_stored_spec
from models.architectures import (
    build_discriminator,
    build_generator,
)
from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.data import DOWNLOADABLE_DATASETS, ImageDataset, load_dataset
from models.inference import (
    encode_image,
    generate_images,
    label_tensor,
    latents_for_seeds,
    make_grid,
    seed_labels,
)
from models.losses import get_loss
from models.training import run_files
from models.training.augment import DiffAugment
from models.training.clusters import balanced_kmeans, features
from models.training.config import TrainConfig
from models.training.ema import ExponentialMovingAverage
from models.training.networks import model_config_for, resolve_device
from models.training.precision import autocast_for, precision_problem, scaler_for
from models.training.quality import QualityProbe
from models.training.reports import Progress, TrainResult
from models.training.state import (
    EpochSampler,
    load_module,
    load_optimizer_tensors,
    module_tensors,
    optimizer_tensors,
)
from models.training.step import AdversarialStep

log = logging.getLogger(__name__)


class Trainer(AdversarialStep):
    """Owns networks, optimizers, EMA and the run folder for one training run."""

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path,
        *,
        on_progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        cache_dir: str | Path | None = None,
        dataset: ImageDataset | None = None,
    ) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.on_progress = on_progress or (lambda progress: None)
        self.should_stop = should_stop or (lambda: False)
        self.device = resolve_device(config.device)
        # A host's limit, so judged here, on the worker, before anything is loaded.
        unfit = precision_problem(config.precision, self.device)
        if unfit is not None:
            raise ValueError(unfit)
        self.dataset = dataset or load_dataset(
            config.dataset,
            image_size=config.image_size,
            channels=config.channels,
            path=config.dataset_path,
            cache_dir=cache_dir,
            download=config.dataset in DOWNLOADABLE_DATASETS and cache_dir is not None,
            seed=config.seed,
            num_images=config.num_images,
        )
        if self.dataset.skipped_files:
            log.warning(
                "dataset %s: skipped %d unreadable or non-image files",
                self.dataset.name,
                self.dataset.skipped_files,
            )
        self.model_config = model_config_for(config, self.dataset)
        self.conditional = self.model_config.num_classes > 0
        self.info_codes = getattr(self.model_config, "info_codes", 0)
        # Self-conditioning: each training image's cluster, D's label for it (models.training.clusters)
        self.clusters: torch.Tensor | None = None
        if config.clusters:
            if config.clusters > len(self.dataset):
                raise ValueError(
                    f"clusters ({config.clusters}) must be at most the number of images ({len(self.dataset)})"
                )
            self.clusters = balanced_kmeans(features(self.dataset.images), config.clusters, config.seed)
        self.loss = get_loss(config.loss, config.divergence, config.divergence_weight)
        with torch.random.fork_rng(devices=[]):
            # Initial weights depend on the seed only, without touching the caller's global RNG.
            torch.manual_seed(config.seed)
            self.generator = build_generator(self.model_config).to(self.device)
            self.discriminator = build_discriminator(self.model_config).to(self.device)
        if config.channels_last and self.device.type == "cuda":
            # nn.Module.to takes memory_format (documented); torch's overloads omit it.
            self.generator.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            self.discriminator.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=betas)
        self.ema = ExponentialMovingAverage(self.generator, config.ema_decay) if config.ema else None
        self.autocast = autocast_for(config.precision, self.device)
        self.scaler = scaler_for(config.precision, self.device)
        self.sampler = EpochSampler(len(self.dataset), config.batch_size, config.seed)
        self.noise = torch.Generator(device="cpu").manual_seed(config.seed + 1)
        self.augment = DiffAugment(config.augment, config.seed + 2)
        self.step = 0
        self.losses: dict[str, float] = {}
        self.quality = QualityProbe(config.dataset, self.dataset, config.eval_samples, config.seed)

    # -- state -------------------------------------------------------------------------------

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The full training state as flat tensors: networks, EMA, optimizers, RNG streams and step."""
        tensors = module_tensors("generator", self.generator)
        tensors |= module_tensors("discriminator", self.discriminator)
        if self.ema is not None:
            tensors |= module_tensors("generator_ema", self.ema.module)
        for prefix, optimizer in (("optimizer_g", self.opt_g), ("optimizer_d", self.opt_d)):
            tensors |= {f"{prefix}.{k}": v for k, v in optimizer_tensors(optimizer).items()}
        tensors |= {f"rng.sampler.{k}": v for k, v in self.sampler.state_tensors().items()}
        tensors["rng.noise"] = self.noise.get_state()
        if self.augment:
            tensors["rng.augment"] = self.augment.rng.get_state()
        tensors["step"] = torch.tensor([self.step], dtype=torch.int64)
        return tensors

    def load_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_tensors` produced, so training continues bit for bit."""
        load_module(self.generator, tensors, "generator")
        load_module(self.discriminator, tensors, "discriminator")
        if self.ema is not None:
            load_module(self.ema.module, tensors, "generator_ema")
        for prefix, optimizer in (("optimizer_g", self.opt_g), ("optimizer_d", self.opt_d)):
            flat = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
            load_optimizer_tensors(optimizer, flat)
        sampler_state = {
            k[len("rng.sampler.") :]: v for k, v in tensors.items() if k.startswith("rng.sampler.")
        }
        self.sampler.load_state_tensors(sampler_state)
        self.noise.set_state(tensors["rng.noise"])
        if self.augment:
            self.augment.rng.set_state(tensors["rng.augment"])
        self.step = int(tensors["step"][0])
        if self.ema is not None:
            self.ema.updates = self.step  # the decay ramp depends on it

    def resume(self) -> int:
        """Continue from the newest readable checkpoint in the run folder; returns its step."""
        for step in reversed(run_files.checkpoint_steps(self.run_dir)):
            path = run_files.checkpoint_path(self.run_dir, step)
            try:
                info, tensors = load_checkpoint(path)
            except CheckpointError as error:
                log.warning("skipping unreadable checkpoint: %s", error)
                continue
            if info.kind != "training":
                continue
            saved = TrainConfig.from_dict(upgrade_stored_spec(info.train_config))
            if not saved.same_run_as(self.config):
                raise ValueError(f"{self.run_dir} holds a run with a different config; choose another name")
            self.load_state_tensors(tensors)
            run_files.truncate_metrics(self.run_dir, self.step)
            return self.step
        return 0

    # -- loop --------------------------------------------------------------------------------

    def serving_generator(self) -> torch.nn.Module:
        """The generator that is served and sampled: the EMA copy when there is one."""
        return self.ema.module if self.ema is not None else self.generator

    def save_sample_grid(self) -> Path:
        """The fixed-noise grid: seeds ``0..n-1`` (labels ``i % K``), exactly as served."""
        count = self.config.sample_count
        latents = latents_for_seeds(range(count), self.model_config.latent_dim)
        labels = label_tensor(seed_labels(range(count), self.model_config.num_classes))
        generator = self.serving_generator()
        was_training = generator.training
        generator.eval()
        images = generate_images(generator, latents, labels)
        generator.train(was_training)
        path = run_files.sample_path(self.run_dir, self.step)
        write_atomic(path, encode_image(make_grid(images, columns=8 if count >= 8 else None)))
        return path

    def save_checkpoint(self) -> Path:
        """Write a training checkpoint with the losses and quality figures, and append them to the metrics."""
        metrics = {"step": self.step, **self.losses}
        metrics |= self.quality.measure(
            self.serving_generator(), self.model_config.latent_dim, self.conditional
        )
        path = run_files.checkpoint_path(self.run_dir, self.step)
        now = time.time()
        save_checkpoint(
            path,
            self.state_tensors(),
            kind="training",
            step=self.step,
            model_config=self.model_config,
            train_config=self.config.to_dict(),
            metrics=metrics,
            class_names=self.dataset.class_names if self.dataset.labels is not None else None,
            trained_at=now,
        )
        run_files.append_metrics(self.run_dir, {**metrics, "time": now})
        return path

    def run(self, *, resume: bool = True) -> TrainResult:
        """Train to ``config.steps`` (or until ``should_stop``), checkpointing as configured."""
        # Kernel choice changes rounding, so pin it: a process that serves (and so switched
        # oneDNN off) must train exactly like a fresh one.
        previous = torch.backends.mkldnn.enabled
        torch.backends.mkldnn.enabled = True  # type: ignore[assignment]  # a module property torch's stubs miss
        try:
            return self._run(resume)
        finally:
            torch.backends.mkldnn.enabled = previous

    def _run(self, resume: bool) -> TrainResult:
        for folder in (
            self.run_dir,
            run_files.checkpoint_dir(self.run_dir),
            run_files.samples_dir(self.run_dir),
        ):
            folder.mkdir(parents=True, exist_ok=True)
        start = self.resume() if resume else 0
        write_atomic(self.run_dir / "config.json", json.dumps(self.config.to_dict(), indent=2))
        if start == 0:
            self.save_sample_grid()
        last_checkpoint = run_files.checkpoint_path(self.run_dir, start) if start else None
        checkpointed_step = start
        total = self.config.steps
        images_per_step = self.config.batch_size * self.config.d_steps
        rate = 0.0
        window_start, window_steps = time.perf_counter(), 0
        while self.step < total:
            if self.should_stop():
                # Keep the work done since the last checkpoint; a resume continues from here.
                if self.step > checkpointed_step:
                    last_checkpoint = self.save_checkpoint()
                return TrainResult("stopped", self.step, last_checkpoint, self.model_config)
            self.losses = self.train_step()
            window_steps += 1
            elapsed = time.perf_counter() - window_start
            if elapsed >= 1.0 or self.step == total:
                rate = window_steps * images_per_step / max(elapsed, 1e-9)
                window_start, window_steps = time.perf_counter(), 0
            eta = (total - self.step) * images_per_step / rate if rate > 0 else None
            progress = Progress(self.step, total, rate, eta, dict(self.losses))
            self.on_progress(progress)
            if self.step % self.config.sample_interval == 0 or self.step == total:
                self.save_sample_grid()
            if self.step % self.config.checkpoint_interval == 0 or self.step == total:
                last_checkpoint = self.save_checkpoint()
                checkpointed_step = self.step
                metrics = run_files.read_metrics(self.run_dir)
                self.on_progress(
                    Progress(
                        self.step,
                        total,
                        rate,
                        eta,
                        dict(self.losses),
                        "checkpoint",
                        self.step,
                        metrics[-1] if metrics else {},
                    )
                )
        return TrainResult("completed", self.step, last_checkpoint, self.model_config)


def train(config: TrainConfig, run_dir: str | Path, **options: Any) -> TrainResult:
    """Train ``config`` in ``run_dir`` (resuming if it holds a checkpoint of the same run)."""
    resume = options.pop("resume", True)
    return Trainer(config, run_dir, **options).run(resume=resume)
