"""`ganserve train` as a shell runs it: a live bar on a terminal, plain lines in a log file, and
a Ctrl-C that pauses the run at a checkpoint instead of losing it."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from cli.progress import Progress
from tests.support.processes import ROOT, child_env

TINY = [
    "--dataset",
    "digits",
    "--architecture",
    "gan",
    "--g-width",
    "8",
    "--d-width",
    "8",
    "--batch-size",
    "8",
]


def train_command(tmp_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cli.main",
        "train",
        *TINY,
        "--eval-samples",
        "0",
        "--out",
        str(tmp_path / "run"),
        *extra,
    ]


def test_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with Progress("train", 10, stream=stream, interval=0) as bar:
        for step in range(1, 11):
            bar.update(step, f"loss_g={step / 10:.3f}", rate=5.0, eta=(10 - step) / 5)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    assert lines[-1].startswith("train: 10/10 steps, 5.0 steps/s, elapsed 0:00, eta 0:00, loss_g=1.000")


def test_plain_lines_are_periodic_and_the_last_state_is_always_written() -> None:
    stream = io.StringIO()
    with Progress("import", 3, unit="files", stream=stream, interval=3600) as bar:
        for done in (1, 2, 3):
            bar.update(done)
    assert [line.split(",")[0] for line in stream.getvalue().splitlines()] == [
        "import: 1/3 files",
        "import: 3/3 files",
    ]


def test_a_terminal_run_of_train_shows_a_live_bar(tmp_path: Path) -> None:
    main_side, terminal = pty.openpty()
    process = subprocess.Popen(
        train_command(tmp_path, "--steps", "150"),
        cwd=ROOT,
        env={**child_env(), "COLUMNS": "160"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    seen = b""
    while True:
        ready, _, _ = select.select([main_side], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(main_side, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out, _ = process.communicate(timeout=120)
    os.close(main_side)
    assert process.returncode == 0
    assert json.loads(out)["status"] == "completed"  # stdout still holds only the JSON line
    text = seen.decode(errors="replace")
    assert "\x1b[" in text  # redrawn in place by rich
    assert "━" in text and "150/150" in text
    assert re.search(r"[0-9.]+ steps/s", text) and "eta " in text and "loss_g=" in text


def test_train_to_a_file_writes_plain_lines(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    with log.open("w") as stderr:
        done = subprocess.run(
            train_command(tmp_path, "--steps", "20"),
            cwd=ROOT,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    assert done.returncode == 0
    text = log.read_text()
    assert "\r" not in text and "\x1b" not in text
    assert re.search(r"^train: 20/20 steps, [0-9.]+ steps/s, elapsed [0-9:]+, eta 0:00, loss_d=", text, re.M)


def test_ctrl_c_pauses_training_at_a_checkpoint_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    command = train_command(tmp_path, "--steps", "100000", "--checkpoint-every", "100000")
    with log.open("w") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=stderr)
        deadline = time.monotonic() + 120
        while not re.search(r"train: [1-9]", log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=120)
    assert process.returncode == 130
    text = log.read_text()
    assert "Traceback" not in text, text
    said = re.findall(r"^ganserve train: .*", text, re.M)
    assert len(said) == 1, text
    match = re.fullmatch(
        r"ganserve train: interrupted: paused at step ([0-9]+) \(checkpoint saved\); the same command "
        r"\(with -o \S+\) resumes it, --fresh starts over",
        said[0],
    )
    assert match, said
    step = int(match.group(1))
    assert json.loads(out) | {"status": "stopped", "step": step} == json.loads(out)
    assert (tmp_path / "run" / "checkpoints" / f"step-{step:08d}.safetensors").exists()
