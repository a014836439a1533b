"""Training images/s: the engine's Trainer next to a bare PyTorch loop of the same networks.

Both run in this process, interleaved (engine, bare, engine, bare, ...) so that machine noise
hits both alike; the best of the rounds is reported for each. Run:

    .venv/bin/python bench/train_throughput.py [--steps 30] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.architectures import build_discriminator, build_generator
from models.data import load_dataset
from models.training import Progress, TrainConfig, Trainer
from models.training.networks import model_config_for


@dataclass(frozen=True)
class Case:
    label: str
    config: TrainConfig


def training_cases(steps: int) -> list[Case]:
    """The two measured cases; no checkpoint, grid or quality probe falls inside a timed run."""
    common = {
        "steps": steps,
        "batch_size": 64,
        "checkpoint_every": 10**6,
        "sample_every": 10**6,
        "eval_samples": 0,
        "device": "cpu",
    }
    return [
        Case("gan 28x28x1 (mnist5k)", TrainConfig(architecture="gan", dataset="mnist5k", **common)),
        Case(
            "dcgan 64x64x3 (shapes)",
            TrainConfig(architecture="dcgan", dataset="shapes", image_size=64, num_images=2000, **common),
        ),
    ]


def engine_rate(case: Case, steps: int) -> float:
    """Images/s of Trainer.run between its first and last step (setup excluded)."""
    stamps: list[float] = []

    def record(progress: Progress) -> None:
        if progress.event == "step":
            stamps.append(time.perf_counter())

    config = case.config.replace(steps=steps + 1)
    with tempfile.TemporaryDirectory() as folder:
        Trainer(config, folder, on_progress=record).run()
    return steps * config.batch_size * config.d_steps / (stamps[-1] - stamps[0])


def bare_rate(case: Case, steps: int) -> float:
    """The loop a user would write by hand: same nets, BCE with logits, Adam, no extras."""
    config = case.config
    dataset = load_dataset(config.dataset, image_size=config.image_size, channels=config.channels)
    model_config = model_config_for(config, dataset)
    torch.manual_seed(config.seed)
    net_g, net_d = build_generator(model_config), build_discriminator(model_config)
    opt_g = torch.optim.Adam(net_g.parameters(), lr=config.lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(net_d.parameters(), lr=config.lr_d, betas=(0.5, 0.999))
    batch = config.batch_size
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    # Stamped after each step, as engine_rate is: the first step (lazy kernel set-up) is not timed.
    timings: list[float] = []
    for _ in range(steps + 1):
        indices = torch.randint(len(dataset), (batch,))
        real, _ = dataset.batch(indices)
        noise = torch.randn(batch, model_config.latent_dim)
        fake = net_g(noise)
        errD_real = F.binary_cross_entropy_with_logits(net_d(real), ones)
        errD_fake = F.binary_cross_entropy_with_logits(net_d(fake.detach()), zeros)
        opt_d.zero_grad()
        (errD_real + errD_fake).backward()
        opt_d.step()
        noise = torch.randn(batch, model_config.latent_dim)
        errG = F.binary_cross_entropy_with_logits(net_d(net_g(noise)), ones)
        opt_g.zero_grad()
        errG.backward()
        opt_g.step()
        timings.append(time.perf_counter())
    return steps * batch / (timings[-1] - timings[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = training_cases(args.steps)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 64, "
        f"{args.steps} timed steps, best of {args.rounds} interleaved rounds"
    )
    print(f"{'case':<26}{'engine img/s':>14}{'bare img/s':>12}{'ratio':>8}   (all rounds)")
    for case in cases:
        runs: dict[str, list[float]] = {"engine": [], "bare": []}
        measure: dict[str, Callable[[Case, int], float]] = {"engine": engine_rate, "bare": bare_rate}
        for _ in range(args.rounds):
            for name, function in measure.items():
                runs[name].append(function(case, args.steps))
        engine, bare = max(runs["engine"]), max(runs["bare"])
        detail = ", ".join(f"{e:.0f}/{b:.0f}" for e, b in zip(runs["engine"], runs["bare"], strict=True))
        print(f"{case.label:<26}{engine:>14.1f}{bare:>12.1f}{engine / bare:>8.3f}   ({detail})")
        median_ratio = statistics.median(runs["engine"]) / statistics.median(runs["bare"])
        print(f"{'':<26}median ratio {median_ratio:.3f}")


if __name__ == "__main__":
    main()
