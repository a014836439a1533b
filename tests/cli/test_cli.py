"""The `ganserve` command as a user runs it: train, sample, interpolate, info, export, errors."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cli.main import main
from models.inference import decode_png

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A few hundred steps of DCGAN on digits, the acceptance run of the engine issue, and the
    summary the command printed."""
    folder = tmp_path_factory.mktemp("cli") / "digits-dcgan"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            [
                "train",
                "--dataset",
                "digits",
                "--architecture",
                "dcgan",
                "--steps",
                "300",
                "--g-width",
                "32",
                "--d-width",
                "32",
                "--checkpoint-every",
                "100",
                "--sample-every",
                "50",
                "--eval-samples",
                "500",
                "--name",
                "digits-dcgan",
                "--out",
                str(folder),
                "--quiet",
            ]
        )
    assert code == 0
    return folder, json.loads(printed.getvalue())


@pytest.fixture(scope="module")
def run_dir(trained: tuple[Path, dict[str, Any]]) -> Path:
    return trained[0]


def test_training_ends_with_the_job_records_evaluation(trained: tuple[Path, dict[str, Any]]) -> None:
    evaluation = trained[1]["evaluation"]
    assert evaluation["status"] == "done" and evaluation["evaluator"]["kind"] == "shipped"
    assert evaluation["samples"] == 500 and evaluation["num_classes"] == 10
    assert evaluation["fd_ratio"] == evaluation["frechet_distance"] / evaluation["floor_frechet_distance"]
    assert evaluation["memorization"]["space"] == "evaluator features"


def test_training_writes_checkpoints_grids_and_improving_quality(run_dir: Path) -> None:
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "step-00000100.safetensors",
        "step-00000200.safetensors",
        "step-00000300.safetensors",
    ]
    assert len(list((run_dir / "samples").glob("step-*.png"))) == 7  # 0, 50, ..., 300
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    distances = [r["quality"]["frechet_distance"] for r in records]
    assert [r["step"] for r in records] == [100, 200, 300]
    assert distances[-1] < 0.7 * distances[0], distances
    assert records[-1]["quality"]["classes_present"] >= records[0]["quality"]["classes_present"]


def sample_in_new_process(run_dir: Path, output: Path, *extra: str) -> bytes:
    subprocess.run(
        [sys.executable, "-m", "cli.main", "sample", str(run_dir), "-o", str(output), *extra],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return output.read_bytes()


def test_same_seed_same_bytes_across_processes_and_in_grids(run_dir: Path, tmp_path: Path) -> None:
    first = sample_in_new_process(run_dir, tmp_path / "a.png", "--seed", "42")
    second = sample_in_new_process(run_dir, tmp_path / "b.png", "--seed", "42")
    assert first == second
    assert (
        main(
            [
                "sample",
                str(run_dir),
                "--seed",
                "40",
                "--count",
                "4",
                "--columns",
                "4",
                "-o",
                str(tmp_path / "grid.png"),
            ]
        )
        == 0
    )
    grid = decode_png((tmp_path / "grid.png").read_bytes())
    alone = decode_png(first)
    assert np.array_equal(grid[:, 16:24], alone)  # tile 2 of base seed 40 is seed 42
    other = sample_in_new_process(run_dir, tmp_path / "c.png", "--seed", "43")
    assert other != first


def test_interpolation_ends_are_the_seed_images(run_dir: Path, tmp_path: Path) -> None:
    for seed in (1, 2):
        assert main(["sample", str(run_dir), "--seed", str(seed), "-o", str(tmp_path / f"{seed}.png")]) == 0
    assert (
        main(
            [
                "interpolate",
                str(run_dir),
                "--start",
                "1",
                "--end",
                "2",
                "--steps",
                "6",
                "-o",
                str(tmp_path / "strip.png"),
            ]
        )
        == 0
    )
    strip = decode_png((tmp_path / "strip.png").read_bytes())
    assert strip.shape == (8, 48, 1)
    assert np.array_equal(strip[:, :8], decode_png((tmp_path / "1.png").read_bytes()))
    assert np.array_equal(strip[:, 40:], decode_png((tmp_path / "2.png").read_bytes()))


def test_info_and_export(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(run_dir), "--step", "200"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["step"] == 200 and info["model_config"]["architecture"] == "dcgan"
    assert main(["export", str(run_dir), str(tmp_path / "g.safetensors")]) == 0
    capsys.readouterr()
    exported = tmp_path / "g.safetensors"
    assert exported.stat().st_size < (run_dir / "checkpoints" / "step-00000300.safetensors").stat().st_size
    assert main(["sample", str(exported), "--seed", "42", "-o", str(tmp_path / "e.png")]) == 0
    assert main(["sample", str(run_dir), "--seed", "42", "-o", str(tmp_path / "r.png")]) == 0
    assert (tmp_path / "e.png").read_bytes() == (tmp_path / "r.png").read_bytes()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--loss", "wasserstein", "--steps", "1"], "unknown loss 'wasserstein'"),
        (["train", "--architecture", "stylegan", "--steps", "1"], "unknown architecture"),
        (["train", "--image-size", "30", "--steps", "1"], "30"),
        (["train", "--dataset", "folder", "--dataset-path", "/nonexistent", "--steps", "1"], "nonexistent"),
        (["info", "/nonexistent.safetensors"], "no such checkpoint"),
    ],
)
def test_errors_are_one_clear_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if argv[0] == "train":
        argv = [*argv, "--out", str(tmp_path / "run")]
    assert main(argv) == 1  # a failure, not a usage error (2)
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_corrupt_checkpoint_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    assert main(["sample", str(bad), "-o", str(tmp_path / "x.png")]) == 1
    assert str(bad) in capsys.readouterr().err


def test_non_image_files_in_a_folder_dataset_are_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from PIL import Image

    data = tmp_path / "images"
    data.mkdir()
    for index in range(6):
        Image.new("RGB", (20, 20), (index * 40, 0, 0)).save(data / f"{index}.png")
    (data / "notes.txt").write_text("not an image")
    (data / "broken.png").write_bytes(b"\x89PNG garbage")
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--dataset",
                "folder",
                "--dataset-path",
                str(data),
                "--image-size",
                "16",
                "--steps",
                "2",
                "--batch-size",
                "4",
                "--g-width",
                "4",
                "--d-width",
                "4",
                "--eval-samples",
                "0",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert (out / "checkpoints" / "step-00000002.safetensors").exists()
    assert "skipped 2 unreadable or non-image files" in caplog.text
