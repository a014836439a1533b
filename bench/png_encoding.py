"""What PNG encoding costs per served image, by zlib level and strategy, side by side.

The images are the shipped models' own, as ``GET /sample`` serves them: single images (seeds
0..N-1) and 8x8 grids, for a grayscale 28x28 model and a colour 64x64 one. For each setting it
prints the mean encoding time per image and the mean file size, both as a ratio to the setting
served before (``compress_level=1`` with zlib's default strategy; now its run-length strategy,
``models.inference.images.PNG_STRATEGY``). Every setting is lossless: the decoded pixels are
checked equal to the input.

    .venv/bin/python -m bench.png_encoding [--images 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from models.checkpoint import load_generator
from models.inference import encode_image, generate_images, latents_for_seeds, make_grid

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"
MODELS = ("mnist-dcgan", "shapes-dcgan")
# (label, compress_level, compress_type): zlib strategies by their names.
SETTINGS = (
    ("level 1 (before)", 1, zlib.Z_DEFAULT_STRATEGY),
    ("level 0 (stored)", 0, zlib.Z_DEFAULT_STRATEGY),
    ("level 1, RLE (served)", 1, zlib.Z_RLE),
    ("level 1, Huffman only", 1, zlib.Z_HUFFMAN_ONLY),
    ("level 1, filtered", 1, zlib.Z_FILTERED),
    ("level 2", 2, zlib.Z_DEFAULT_STRATEGY),
    ("level 6 (zlib default)", 6, zlib.Z_DEFAULT_STRATEGY),
)


def served_images(name: str, count: int) -> dict[str, list[np.ndarray]]:
    """The model's single images and grids, as uint8 (H, W, C)."""
    checkpoint = sorted((PRETRAINED / name / "checkpoints").glob("*.safetensors"))[-1]
    generator, info = load_generator(checkpoint)
    images = generate_images(generator.eval(), latents_for_seeds(range(count), info.model_config.latent_dim))
    grids = [make_grid(images[start : start + 64], 8) for start in range(0, count - 63, 64)]
    return {"single": list(images), "8x8 grid": grids}


def measure(images: list[np.ndarray], level: int, strategy: int, rounds: int) -> tuple[float, float]:
    """(best-of-rounds mean seconds per image, mean bytes) for one setting."""
    encoded = [encode_image(image, "png", level, strategy) for image in images]
    for image, data in zip(images, encoded, strict=True):
        decoded = np.asarray(Image.open(io.BytesIO(data)))
        assert np.array_equal(decoded.reshape(image.shape), image)  # lossless
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for image in images:
            encode_image(image, "png", level, strategy)
        best = min(best, (time.perf_counter() - started) / len(images))
    return best, statistics.mean(len(data) for data in encoded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("| model | image | setting | µs / image | bytes | time vs before | size vs before |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for name in MODELS:
        for kind, images in served_images(name, max(64, args.images)).items():
            base_time, base_size = measure(images, 1, zlib.Z_DEFAULT_STRATEGY, args.rounds)
            for label, level, strategy in SETTINGS:
                seconds, size = measure(images, level, strategy, args.rounds)
                print(
                    f"| {name} | {kind} | {label} | {seconds * 1e6:.0f} | {size:.0f} "
                    f"| {seconds / base_time:.2f}x | {size / base_size:.2f}x |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
