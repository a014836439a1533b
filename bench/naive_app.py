"""The baseline a user would write: one generator forward pass per request, nothing else.

A plain ``def`` route (FastAPI runs it in its thread pool), torch left at its defaults, the
generator loaded once at start-up. Encoding uses the same PNG settings as ganserve, so the
comparison is about scheduling and batching, not about zlib levels. Run as

    BENCH_CHECKPOINTS=name=path.safetensors,... uvicorn bench.naive_app:app
"""

from __future__ import annotations

import os

import torch
from fastapi import FastAPI, Response

from models.checkpoint import load_generator
from models.inference import encode_image, latent_for_seed, to_uint8


def _load() -> dict[str, torch.nn.Module]:
    generators = {}
    for item in os.environ["BENCH_CHECKPOINTS"].split(","):
        name, path = item.split("=", 1)
        # In eval mode, with torch's own kernels: what a user's endpoint would run.
        generators[name], _ = load_generator(path)
    return generators


GENERATORS = _load()
app = FastAPI()


@app.get("/sample")
def sample(model: str, seed: int = 0) -> Response:
    generator = GENERATORS[model]
    latent = latent_for_seed(seed, generator.config.latent_dim)
    with torch.inference_mode():
        image = to_uint8(generator(latent[None]))[0]
    return Response(encode_image(image, "png"), media_type="image/png")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
