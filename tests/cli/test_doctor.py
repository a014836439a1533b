"""`ganserve doctor`: one line per check, and what to fix when something would fail."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from cli import doctor
from cli.main import main
from common.cpu_features import probe_cpu_features
from tests.support.processes import ROOT, RedisServer, free_port


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GAN_DATA_DIR", "GAN_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)


def test_a_ready_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        monkeypatch.setenv("GAN_REDIS_URL", server.url)
        assert main(["doctor", "--data-dir", str(tmp_path / "data")]) == 0
    finally:
        server.stop()
    out = capsys.readouterr().out
    checks = [line.split(":")[0].split(maxsplit=1) for line in out.splitlines()[:-1]]
    assert [check for _, check in checks] == ["python", "torch", "cpu", "cuda", "redis", "data dir", "disk"]
    assert f"ok   redis: {server.url} answers" in out
    assert "torch kernels: " in out and "GiB free" in out
    assert out.splitlines()[-1] == "ready"


def test_what_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GAN_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nobody listens
    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    assert main(["doctor", "--data-dir", str(taken / "data")]) == 1
    out = capsys.readouterr().out
    assert "FIX  redis: redis://127.0.0.1:" in out and "fix: start that Redis, correct GAN_REDIS_URL" in out
    assert "FIX  data dir: " in out and "fix: pass a writable --data-dir" in out
    assert out.splitlines()[-1] == "2 to fix: redis, data dir"


def test_cpu_features_come_from_the_one_probe(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile amx_bf16\n\n")
    features = probe_cpu_features(cpuinfo)
    assert (features.avx512, features.avx512_bf16, features.amx, features.fast_bfloat16) == (
        True,
        True,
        True,
        True,
    )
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2\n")
    assert not probe_cpu_features(cpuinfo).fast_bfloat16
    assert not probe_cpu_features(tmp_path / "missing").known
    assert probe_cpu_features().torch_capability in ("DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "NONE")


def test_the_torch_range_is_the_projects() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (low, high) = doctor.TORCH_RANGE
    assert f"torch>={low[0]}.{low[1]},<{high[0]}.{high[1]}" in requires
