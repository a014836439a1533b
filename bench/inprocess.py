"""The machine's own limit: generator forward + encoding in this process, no HTTP at all.

Same engine calls as the service (seeded latents, ``generate_images``, ``encode_image``), with
torch set up as the service sets it (threads, oneDNN on), so the HTTP figures have a ceiling
to be compared with.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from models.inference import (
    encode_image,
    generate_images,
    interpolate_latents,
    latent_for_seed,
    latents_for_seeds,
    make_grid,
)


def configure_torch(threads: int) -> None:
    """As the service's lifespan does: fixed intra-op threads, oneDNN on."""
    torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = True


def _latent_dim(generator: nn.Module) -> int:
    return int(generator.config.latent_dim)


def render_batch(generator: nn.Module, seeds: list[int]) -> list[bytes]:
    """What serving ``len(seeds)`` one-image requests costs: draw, forward once, encode each."""
    images = generate_images(generator, latents_for_seeds(seeds, _latent_dim(generator)))
    return [encode_image(image, "png") for image in images]


def single_request_seconds(generator: nn.Module, repeats: int) -> float:
    """Median time of one image, drawn, generated and PNG-encoded alone."""
    render_batch(generator, [0])
    times = []
    for seed in range(1, repeats + 1):
        started = time.perf_counter()
        render_batch(generator, [seed])
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@dataclass(frozen=True)
class Throughput:
    images_per_second: float
    cpu_ms_per_image: float  # this process's CPU time (all threads) per image


def images_per_second(generator: nn.Module, batch: int, workers: int, seconds: float) -> Throughput:
    """Images/s of ``workers`` threads each rendering batches of ``batch`` back to back.

    ``workers`` is the service's number of forward lanes (cores // torch threads), so this is
    the most the machine can do with the service's threading, before any HTTP. CPU time per
    image comes with it: on a shared machine it says what the work costs, whatever share of
    the cores this process got.
    """
    render_batch(generator, list(range(batch)))  # warm-up
    seeds = itertools.count(1000)
    lock = threading.Lock()
    done = [0]
    deadline = time.perf_counter() + seconds

    def work() -> None:
        while time.perf_counter() < deadline:
            with lock:
                batch_seeds = [next(seeds) for _ in range(batch)]
            render_batch(generator, batch_seeds)
            with lock:
                done[0] += batch

    started, cpu = time.perf_counter(), time.process_time()
    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Throughput(done[0] / elapsed, 1000 * cpu / done[0])


def strip_seconds(generator: nn.Module, frames: int, repeats: int) -> float:
    """Median time of an interpolation strip: ``frames`` rows in one forward, one PNG."""
    latent_dim = _latent_dim(generator)

    def once(start: int) -> bytes:
        latents = interpolate_latents(
            latent_for_seed(start, latent_dim), latent_for_seed(start + 1, latent_dim), frames
        )
        return encode_image(make_grid(generate_images(generator, latents), frames), "png")

    once(0)
    times = []
    for start in range(1, repeats + 1):
        began = time.perf_counter()
        once(start)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


@dataclass(frozen=True)
class EncodingRow:
    name: str
    ms_per_image: float
    bytes_per_image: float


ENCODERS: dict[str, Callable[[np.ndarray], bytes]] = {
    "png level 0": lambda image: encode_image(image, "png", compress_level=0),
    "png level 1 (served)": lambda image: encode_image(image, "png", compress_level=1),
    "png level 6 (PIL default)": lambda image: encode_image(image, "png", compress_level=6),
    "webp lossless, method 0": lambda image: encode_image(image, "webp"),
    "jpeg quality 90": lambda image: encode_image(image, "jpeg"),
}


def encoding_costs(generator: nn.Module, images: int = 64, repeats: int = 3) -> list[EncodingRow]:
    """Per-image encoding time and size for each candidate setting, plus the forward itself."""
    latents = latents_for_seeds(list(range(images)), _latent_dim(generator))
    batch: np.ndarray = generate_images(generator, latents)
    forward = min(_timed(lambda: generate_images(generator, latents)) for _ in range(repeats))
    rows = [EncodingRow("forward pass (for scale)", 1000 * forward / images, 0.0)]
    for name, encoder in ENCODERS.items():
        best = min(_timed(lambda e=encoder: [e(image) for image in batch]) for _ in range(repeats))
        size = statistics.mean(len(encoder(image)) for image in batch)
        rows.append(EncodingRow(name, 1000 * best / images, size))
    return rows


def _timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started
