"""What the CPU can do for torch: the one place that probes its vector and matrix instructions.

bfloat16 on a CPU is only worth it with AVX512-BF16 or AMX; without them torch emulates it and
is slower than float32. Anything that decides by the CPU's features (a precision rule,
`ganserve doctor`) asks ``probe_cpu_features`` instead of reading /proc/cpuinfo itself.
Probing touches no accelerator: it reads a file and asks torch which CPU kernels it picked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# /proc/cpuinfo flag names (Linux) of the features that matter for torch's CPU kernels.
FLAG_AVX512 = "avx512f"
FLAG_AVX512_BF16 = "avx512_bf16"
FLAG_AMX = "amx_tile"


@dataclass(frozen=True)
class CpuFeatures:
    """The CPU's features that change torch's speed and kernels.

    ``torch_capability`` is what torch dispatches to (``AVX512``, ``AVX2``, ``DEFAULT``), None
    when torch is not installed; ``known`` is False where /proc/cpuinfo could not be read (not
    Linux), and then the three flags say nothing.
    """

    avx512: bool
    avx512_bf16: bool
    amx: bool
    torch_capability: str | None
    known: bool = True

    @property
    def fast_bfloat16(self) -> bool:
        """Whether bfloat16 matrix maths runs in hardware (AVX512-BF16 or AMX)."""
        return self.avx512_bf16 or self.amx


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str] | None:
    """The flags of the first processor in ``cpuinfo``; None when it cannot be read."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86, Arm
            return set(value.split())
    return set()


def probe_cpu_features(cpuinfo: Path = CPUINFO) -> CpuFeatures:
    """The features of this machine's CPU (see ``CpuFeatures``)."""
    flags = cpu_flags(cpuinfo)
    try:
        import torch

        capability: str | None = str(torch.backends.cpu.get_cpu_capability())
    except ImportError:
        capability = None
    have = flags or set()
    return CpuFeatures(
        avx512=FLAG_AVX512 in have,
        avx512_bf16=FLAG_AVX512_BF16 in have,
        amx=FLAG_AMX in have,
        torch_capability=capability,
        known=flags is not None,
    )
