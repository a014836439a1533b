"""Training precision: fp32, bf16 and fp16, each refused where its device cannot run it fast.

This CPU's bfloat16 instructions are a hardware fact the tests cannot change, so they patch the
one probe of them (common.cpu_features) both ways; bfloat16 autocast itself runs on any CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from common.cpu_features import CpuFeatures
from common.jobs import JobRecord
from models.checkpoint import load_checkpoint, save_checkpoint
from models.training import Trainer, run_files, train
from models.training import precision as precision_module
from models.training.precision import precision_problem
from tests.models.test_training import assert_resumes_exactly, config, tensors_at

CPU = torch.device("cpu")
WITH_BF16 = CpuFeatures(avx512=True, avx512_bf16=True, amx=False, torch_capability="AVX512")
WITHOUT_BF16 = CpuFeatures(avx512=False, avx512_bf16=False, amx=False, torch_capability="AVX2")


@pytest.fixture
def bf16_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "probe_cpu_features", lambda: WITH_BF16)


def test_where_each_precision_may_run() -> None:
    assert precision_problem("fp32", CPU, WITHOUT_BF16) is None
    assert precision_problem("bf16", CPU, WITH_BF16) is None
    assert precision_problem("bf16", CPU, CpuFeatures(True, False, True, "AVX512")) is None  # AMX
    without = precision_problem("bf16", CPU, WITHOUT_BF16)
    assert without is not None and "AVX512-BF16 or AMX" in without and "use 'fp32'" in without
    fp16 = precision_problem("fp16", CPU, WITH_BF16)
    assert fp16 is not None and "needs a CUDA device" in fp16
    assert "not on device 'mps'" in (precision_problem("bf16", torch.device("mps"), WITH_BF16) or "")
    assert "unknown precision 'fp8'" in (precision_problem("fp8", CPU, WITH_BF16) or "")


def test_a_worker_without_bf16_refuses_it_before_loading_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(precision_module, "probe_cpu_features", lambda: WITHOUT_BF16)
    with pytest.raises(ValueError, match="precision 'bf16' on a CPU needs AVX512-BF16 or AMX"):
        Trainer(config(precision="bf16"), tmp_path)
    with pytest.raises(ValueError, match="precision 'fp16' needs a CUDA device"):
        Trainer(config(precision="fp16"), tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        config(precision="half")


@pytest.mark.usefixtures("bf16_cpu")
def test_bf16_trains_in_bfloat16_and_resumes_exactly(tmp_path: Path) -> None:
    seen: list[torch.dtype] = []
    trainer = Trainer(config(precision="bf16"), tmp_path / "bf16")
    trainer.generator.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    trainer.run()
    assert seen and set(seen) == {torch.bfloat16}  # G's forward passes ran under autocast
    # Weights stay float32; only the arithmetic changed, so the result differs from fp32's.
    bf16 = tensors_at(tmp_path / "bf16", 12)
    assert all(t.dtype != torch.bfloat16 for t in bf16.values())
    train(config(), tmp_path / "fp32")
    fp32 = tensors_at(tmp_path / "fp32", 12)
    assert not torch.equal(bf16["generator.net.0.weight"], fp32["generator.net.0.weight"])
    assert all(torch.isfinite(t.float()).all() for t in bf16.values())
    assert_resumes_exactly(config(precision="bf16"), tmp_path / "bf16", tmp_path / "resumed")


def test_amp_is_now_precision() -> None:
    # A config that still names amp is told what replaced it (the API's 422: tests/app/test_train.py).
    with pytest.raises(ValueError, match="amp was replaced by precision"):
        config(amp=False)
    # Records written before precision existed load: amp on was float16 on CUDA.
    base = {"schema_version": 3, "kind": "training", "id": "0" * 32, "model": "m"}
    on = JobRecord.model_validate({**base, "config": {"dataset": "digits", "amp": True}})
    off = JobRecord.model_validate({**base, "config": {"dataset": "digits", "amp": False}})
    assert (on.config.precision, off.config.precision) == ("fp16", "fp32")
    assert on.schema_version == off.schema_version == 4


def test_a_run_checkpointed_with_amp_resumes(tmp_path: Path) -> None:
    stop = iter([False] * 6 + [True] * 100)
    Trainer(config(), tmp_path, should_stop=lambda: next(stop)).run()
    # Rewrite the checkpoint as an earlier version stored it: with amp in its training config.
    path = run_files.checkpoint_path(tmp_path, 6)
    info, tensors = load_checkpoint(path)
    legacy = {key: value for key, value in info.train_config.items() if key != "precision"}
    save_checkpoint(
        path,
        tensors,
        kind=info.kind,
        step=info.step,
        model_config=info.model_config,
        train_config={**legacy, "amp": False},
        metrics=info.metrics,
    )
    result = Trainer(config(), tmp_path).run()
    assert result.status == "completed" and result.step == 12
