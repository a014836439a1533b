"""One step of the minimax game: ``d_steps`` discriminator updates, then one generator update
(Goodfellow et al. 2014, Algorithm 1), with the loss family's penalties and InfoGAN's term.

The maths only: :class:`models.training.trainer.Trainer` builds the networks, optimizers and
data these methods use, and owns the loop, checkpoints and the run folder.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from models.architectures import ModelConfig, info_code
from models.architectures.dcgan import DCGANDiscriminator
from models.data import ImageDataset
from models.losses import GANLoss, gradient_penalty, r1_penalty
from models.training.augment import DiffAugment
from models.training.config import TrainConfig
from models.training.ema import ExponentialMovingAverage
from models.training.state import EpochSampler


class AdversarialStep:
    """The training step of a :class:`~models.training.trainer.Trainer` (which sets these)."""

    config: TrainConfig
    device: torch.device
    dataset: ImageDataset
    model_config: ModelConfig
    conditional: bool
    info_codes: int
    clusters: torch.Tensor | None
    loss: GANLoss
    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    ema: ExponentialMovingAverage | None
    autocast: AbstractContextManager[object]
    scaler: torch.amp.GradScaler
    sampler: EpochSampler
    noise: torch.Generator
    augment: DiffAugment
    step: int

    def _noise(self, count: int) -> torch.Tensor:
        return torch.randn(count, self.model_config.latent_dim, generator=self.noise).to(self.device)

    def _random_labels(self, count: int) -> torch.Tensor | None:
        if not self.conditional:
            return None
        labels = torch.randint(self.model_config.num_classes, (count,), generator=self.noise)
        return labels.to(self.device)

    def _real_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Real images and D's labels for them: classes, clusters (self-conditioned) or None."""
        indices = self.sampler.next_indices()
        images, labels = self.dataset.batch(indices)
        images = images.to(self.device, non_blocking=True)
        if self.config.channels_last and self.device.type == "cuda":
            images = images.contiguous(memory_format=torch.channels_last)
        if self.clusters is not None:
            return images, self.clusters[indices].to(self.device)
        labels = labels.to(self.device) if (self.conditional and labels is not None) else None
        return images, labels

    def _fake_d_labels(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
        """D's labels for G(z, labels): the labels, or the code G drew when self-conditioned."""
        return info_code(z, self.info_codes) if self.clusters is not None else labels

    def _g(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        images: torch.Tensor = self.generator(z, labels) if labels is not None else self.generator(z)
        return images

    def _d(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.augment:
            x = self.augment(x)
        logits: torch.Tensor = self.discriminator(x, labels) if labels is not None else self.discriminator(x)
        return logits

    def _d_with_codes(
        self, x: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's logits, and Q's code logits when the model has InfoGAN codes."""
        if not self.info_codes:
            return self._d(x, labels), None
        if self.augment:
            x = self.augment(x)
        with_codes = cast(DCGANDiscriminator, self.discriminator)  # only DCGAN's D has InfoGAN codes
        return with_codes.forward_with_codes(x, labels)

    def _info_loss(self, code_logits: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor | None:
        """Q's cross-entropy on the codes of ``z`` (InfoGAN's bound on the mutual information)."""
        if code_logits is None:
            return None
        return F.cross_entropy(code_logits.float(), info_code(z, self.info_codes))

    def train_step(self) -> dict[str, float]:
        """One generator update preceded by ``d_steps`` discriminator updates."""
        autocast = self.autocast
        # Set from the step alone, so a resumed run follows the schedule it left.
        factor = self.config.lr_factor(self.step)
        for optimizer, base in ((self.opt_g, self.config.lr_g), (self.opt_d, self.config.lr_d)):
            for group in optimizer.param_groups:
                group["lr"] = base * factor
        loss_d = torch.zeros(())
        for _ in range(self.config.d_steps):
            real, real_labels = self._real_batch()
            z = self._noise(real.shape[0])
            # G's labels: the real batch's classes (conditional models), else none.
            labels = real_labels if self.conditional else None
            with autocast:
                with torch.no_grad():
                    fake = self._g(z, labels)
                if self.config.r1_weight > 0:
                    real = real.detach().requires_grad_(True)
                real_logits = self._d(real, real_labels)
                fake_logits, code_logits = self._d_with_codes(fake, self._fake_d_labels(z, labels))
                # The losses in float32 whatever the precision: their logs and exponentials are
                # where bfloat16's 8-bit mantissa would cost most.
                loss_d = self.loss.discriminator_loss(real_logits.float(), fake_logits.float())
                info_d = self._info_loss(code_logits, z)
            if self.config.r1_weight > 0:
                loss_d = loss_d + r1_penalty(real_logits, real, self.config.r1_weight)
            if self.loss.gradient_penalty_weight > 0:
                loss_d = loss_d + gradient_penalty(
                    self.discriminator,
                    real,
                    fake.float(),
                    real_labels,
                    weight=self.loss.gradient_penalty_weight,
                    generator=self.noise,
                )
            # The reported losses are the adversarial ones; Q's term is reported as loss_info.
            total_d = loss_d if info_d is None else loss_d + self.config.info_weight * info_d
            self.opt_d.zero_grad(set_to_none=True)
            torch.autograd.backward(self.scaler.scale(total_d))
            self.scaler.step(self.opt_d)
            self.scaler.update()
        z = self._noise(self.config.batch_size)
        labels = self._random_labels(self.config.batch_size)
        with autocast:
            fake_logits, code_logits = self._d_with_codes(self._g(z, labels), self._fake_d_labels(z, labels))
            loss_g = self.loss.generator_loss(fake_logits.float())
            info_g = self._info_loss(code_logits, z)
            total_g = loss_g if info_g is None else loss_g + self.config.info_weight * info_g
        self.opt_g.zero_grad(set_to_none=True)
        torch.autograd.backward(self.scaler.scale(total_g))
        self.scaler.step(self.opt_g)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.generator)
        self.step += 1
        losses = {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach())}
        if info_g is not None:
            # Q's cross-entropy on this step's fresh samples: log(k) is chance, 0 is perfect.
            losses["loss_info"] = float(info_g.detach())
        return losses
