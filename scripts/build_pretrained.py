"""Train a shipped model from its committed config and export it into `pretrained/<name>/`.

    .venv/bin/python scripts/build_pretrained.py mnist-dcgan [more names...] [--threads 2]

Writes the EMA generator (safetensors, a few MB), the fixed-noise grids at a spread of steps
(the training-progress sequence), the metrics log and `build.json` with the wall time it took.
The full training run (with discriminator and optimizer state) stays in `runs/<name>`.

A config may say which checkpoint to ship with `export` in its `[extra]` table (free-form
fields the engine keeps but does not use, so `ganserve train --config` takes the same file):
`"last"` (the default) or `"best-fd"`, the checkpoint with the lowest Frechet distance in the
training log. GAN
training does not converge monotonically, and keeping the best checkpoint seen is the usual
early stopping for it; the choice is recorded in `build.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

import torch

from cli.engine_commands import load_config_file
from cli.progress import Progress
from models.checkpoint import export_generator
from models.training import TrainConfig, Trainer, run_files
from models.training.reports import Progress as TrainProgress

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "pretrained" / "configs"
TIMELINE_STEPS = (0, 250, 500, 1000, 2000, 3000, 5000, 10000, 15000)
EXPORT_CHOICES = ("last", "best-fd")


def best_fd_step(run_dir: Path) -> int:
    """The checkpointed step with the lowest Frechet distance in the run's metrics log."""
    saved = set(run_files.checkpoint_steps(run_dir))
    scored = [
        (record["quality"]["frechet_distance"], record["step"])
        for record in run_files.read_metrics(run_dir)
        if record.get("step") in saved and (record.get("quality") or {}).get("frechet_distance") is not None
    ]
    if not scored:
        raise SystemExit(f"{run_dir}: no checkpoint has a Frechet distance in the metrics log")
    return min(scored)[1]


def build(name: str, runs_dir: Path) -> dict[str, object]:
    config = TrainConfig.from_dict(load_config_file(CONFIGS / f"{name}.toml"))
    export = config.extra.get("export", "last")
    if export not in EXPORT_CHOICES:
        raise SystemExit(f"{name}: export must be one of {', '.join(EXPORT_CHOICES)}")
    run_dir = runs_dir / name
    started = time.perf_counter()
    # The same bar as `ganserve train` (plain lines when stderr is a log file).
    with Progress(f"build {name}", config.steps) as bar:

        def on_progress(progress: TrainProgress) -> None:
            losses = " ".join(f"{key}={value:.3f}" for key, value in progress.losses.items())
            rate = progress.images_per_second / (config.batch_size * config.d_steps)
            bar.update(progress.step, losses, rate=rate, eta=progress.eta_seconds)

        result = Trainer(config, run_dir, on_progress=on_progress, cache_dir=ROOT / "data" / "cache").run()
    wall = time.perf_counter() - started
    target = ROOT / "pretrained" / name
    shutil.rmtree(target, ignore_errors=True)
    (target / "checkpoints").mkdir(parents=True)
    (target / "samples").mkdir()
    step = best_fd_step(run_dir) if export == "best-fd" else result.step
    source = run_files.checkpoint_path(run_dir, step)
    export_generator(source, run_files.checkpoint_path(target, step))
    for sample_step in run_files.sample_steps(run_dir):
        if sample_step in TIMELINE_STEPS or sample_step in (step, result.step):
            shutil.copy(
                run_files.sample_path(run_dir, sample_step), run_files.sample_path(target, sample_step)
            )
    shutil.copy(run_files.metrics_path(run_dir), run_files.metrics_path(target))
    shutil.copy(CONFIGS / f"{name}.toml", target / "config.toml")
    record = {
        "name": name,
        "steps": result.step,
        "export": export,
        "exported_step": step,
        "wall_seconds": round(wall, 1),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "command": f".venv/bin/python scripts/build_pretrained.py {name}",
    }
    (target / "build.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="+")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.names:
        print(json.dumps(build(name, args.runs_dir)), flush=True)


if __name__ == "__main__":
    main()
