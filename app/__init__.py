"""The ganserve API.

Importing the package sets OpenMP's wait policy for the serving process, before anything loads
torch (OpenMP reads it once, when its library loads): waiting threads sleep instead of spinning.
It matters when a forward pass runs on several threads (``GAN_TORCH_THREADS`` above 1): spinning
threads hold on to their cores, and while a training run shared the cores a lone 64x64 image took
208 ms with two spinning threads against 9 ms with sleeping ones (docs/benchmarks.md). An
explicit ``OMP_WAIT_POLICY`` in the environment wins.
"""

from __future__ import annotations

import os
import sys

OPENMP_POLICY = {"OMP_WAIT_POLICY": "PASSIVE"}

if "torch" not in sys.modules:  # too late otherwise, and then not ours to change
    for _name, _value in OPENMP_POLICY.items():
        os.environ.setdefault(_name, _value)
