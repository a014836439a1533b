"""`ganserve evaluate --samples N` judges exactly N images, or refuses and says why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("evaluate") / "run"
    argv = ["train", "--dataset", "digits", "--steps", "2", "--g-width", "4", "--d-width", "4"]
    assert main([*argv, "--eval-samples", "0", "--out", str(folder), "--quiet"]) == 0
    return folder


def test_exactly_n_samples(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--samples", "40"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 40
    assert report["generated"]["num_generated"] == report["generated"]["num_real"] == 40
    assert report["floor"]["num_real"] == 40


def test_more_than_half_the_data_is_refused_with_the_reason(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--samples", "1000"]) == 1
    err = capsys.readouterr().err
    assert "cannot judge 1000 samples: dataset 'digits' has 1797 images" in err and "at most 898" in err
