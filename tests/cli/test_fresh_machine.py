"""`make run` on a fresh machine: runtime dependencies only, pip's own progress, and no warning
caused by the project's metadata."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.processes import ROOT


def dry_run(target: str, tmp_path: Path) -> str:
    # A venv that does not exist: make prints every step of the install without running it.
    done = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_run_installs_runtime_dependencies_only_and_shows_pip(tmp_path: Path) -> None:
    run = dry_run("run", tmp_path)
    assert "pip install -e .\n" in run and "[dev]" not in run
    assert "--quiet" not in run and " -q " not in run
    assert "ganserve up" in run
    for target in ("test", "lint"):
        assert "pip install -e '.[dev]'" in dry_run(target, tmp_path)


def test_the_license_is_an_spdx_string_setuptools_understands() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    assert "setuptools>=77" in project["build-system"]["requires"]  # PEP 639


def test_building_the_package_prints_no_warning(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "data", "runs", "*.egg-info", "tests")
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-v",  # pip then shows what the build backend printed, setuptools' warnings included
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "w"),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    # distutils' note that pip turned byte-compiling off is pip's doing, not the metadata's.
    warnings = [line for line in lines if "warn" in line.lower() and "byte-compiling is disabled" not in line]
    assert warnings == []
