"""The sampling contract: how a seed becomes pixels, decided here and nowhere else.

The service (``app/``), the CLI (``cli/``), the benchmarks (``bench/``), evaluation and the
training timeline call only the names exported here.

The steps, in order:

1. **Seed → latent** (:mod:`.seeds`). A seed ``s`` (``0 <= s < 2**63``) maps to one float32
   vector, drawn from a CPU ``torch.Generator`` seeded with ``s``; truncation ``psi`` re-draws,
   from the same stream, every component with ``|z| > psi``. Tile ``i`` of a grid with base seed
   ``s`` is seed ``s + i``. Interpolation frames include both ends exactly.
2. **Labels and cluster codes** (:mod:`.labels`). A conditional model's default label is
   ``seed % num_classes`` for a seed, ``i % num_classes`` for row ``i`` of explicit latents, and
   for an interpolation the start seed's class for the first half of the frames and the end
   seed's for the rest; an asked-for label goes to every image. A self-conditioned model's
   cluster code is read from the latent by the generator itself, so it follows the seed.
3. **The checkpoint, prepared** (:func:`prepare_for_serving`): eval mode, EMA weights, and the
   CPU kernel choice of :mod:`.kernels` (a rule of layer shapes, never a timing).
4. **Latents → images** (:func:`generate`), run only in forward passes of the sizes the
   generator's probe verified (:mod:`.passes`, the one pass-size rule: a forward pass carries
   at most :data:`MAX_PASS_ROWS` rows, :func:`split_passes` lists a request's passes, and
   :func:`generate` runs a pass in kernel calls of verified sizes, padded where that is cheaper).
5. **Pixels → bytes** (:func:`to_uint8`, :func:`make_grid`, :func:`encode_image`).

What is byte-identical, and when:

* A seed's latent vector is the same on every device, host and batch.
* A row's image does not depend on its batch-mates, on how a count of rows is split into passes,
  or on padding rows, bit for bit, for a generator from :func:`prepare_for_serving` (or any
  eval-mode generator: the probe verifies what it runs). This holds within one *kernel
  setting*: device, oneDNN on or off, and torch's thread count; plus the torch build, the CPU's
  vector instructions (``torch.backends.cpu.get_cpu_capability()``) and float32. Across
  settings the last bit may differ; serving fixes the setting at start-up and its ETags name
  the device (``app/rendering/caching.py``).
* Encoded bytes are a pure function of the pixels, the format and the encoder settings (PNG
  carries no timestamp).

So the same (checkpoint, request) gives the same bytes through ``GET /sample``, a batched pass
with other requests, ``ganserve sample`` and ``ganserve interpolate``, under the same setting;
``tests/golden`` pins them (docs/golden-hashes.md).
"""

from common.specs import MAX_SEED
from models.inference.images import (
    decode_png,
    encode_image,
    generate,
    generate_images,
    make_grid,
    to_uint8,
)
from models.inference.kernels import use_inference_kernels
from models.inference.labels import (
    SamplingError,
    check_label,
    check_labels,
    interpolation_labels,
    label_index,
    label_tensor,
    latent_labels,
    seed_labels,
)
from models.inference.passes import MAX_PASS_ROWS, PassSizes, pass_sizes, split_passes
from models.inference.seeds import (
    MIN_TRUNCATION,
    InterpolationMode,
    check_seed,
    check_truncation,
    code_components,
    grid_seeds,
    interpolate_latents,
    latent_for_seed,
    latents_for_seeds,
    with_codes,
)
from models.inference.serving import class_names_of, prepare_for_serving

__all__ = [
    "MAX_PASS_ROWS",
    "MAX_SEED",
    "MIN_TRUNCATION",
    "InterpolationMode",
    "PassSizes",
    "SamplingError",
    "check_label",
    "check_labels",
    "check_seed",
    "check_truncation",
    "class_names_of",
    "code_components",
    "decode_png",
    "encode_image",
    "generate",
    "generate_images",
    "grid_seeds",
    "interpolate_latents",
    "interpolation_labels",
    "label_index",
    "label_tensor",
    "latent_for_seed",
    "latent_labels",
    "latents_for_seeds",
    "make_grid",
    "pass_sizes",
    "prepare_for_serving",
    "seed_labels",
    "split_passes",
    "to_uint8",
    "use_inference_kernels",
    "with_codes",
]
