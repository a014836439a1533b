"""The web page at ``/``: plain HTML, CSS and JavaScript from ``app/static`` (no build step).

The page calls the same HTTP API as every other client, with relative URLs, so it also works
behind a path prefix. ``/ui/options`` tells it the engine's choices and the server's limits, so
its forms never drift from what ``POST /train`` and ``GET /sample`` accept.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from app.api.deps import SettingsDep
from app.api.errors import not_found
from app.api.strict import StrictRoute
from common.specs import TrainingSpec
from models.architectures import ARCHITECTURES, CONDITIONAL_ARCHITECTURES
from models.divergences import F_DIVERGENCES
from models.inference import MAX_SEED, MIN_TRUNCATION
from models.losses import LOSSES

router = APIRouter(include_in_schema=False, route_class=StrictRoute)

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# Everything the page needs comes from this server: the policy makes a stray CDN link fail
# loudly in development instead of silently phoning out in production.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# no-cache means "revalidate", not "never store": FileResponse's ETag makes that a cheap 304,
# and a deploy never leaves a browser running yesterday's JavaScript against today's API.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
STATIC_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
# Fields the training form shows; the rest keep the engine's defaults.
FORM_FIELDS = (
    "dataset",
    "architecture",
    "loss",
    "divergence",
    "steps",
    "batch_size",
    "name",
    "image_size",
    "latent_dim",
    "g_width",
    "d_width",
    "lr_g",
    "lr_d",
    "ema",
    "seed",
    "checkpoint_every",
    "sample_every",
    "eval_samples",
)


@router.api_route("/", methods=["GET", "HEAD"])
def page() -> FileResponse:
    """The web page, ``index.html``, sent uncached and with its content security policy."""
    return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
def static_file(name: str) -> FileResponse:
    """One file of the flat ``app/static`` folder; anything else (``..``, sub-paths) is 404."""
    media_type = MEDIA_TYPES.get(Path(name).suffix)
    # Looked up among the files the folder holds, never asked of the filesystem: a name of
    # hundreds of characters would make the OS raise (ENAMETOOLONG) instead of answering no.
    if media_type is None or name.startswith(".") or name not in _static_files():
        raise not_found(f"no static file {name[:64]!r}")
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers=STATIC_HEADERS)


@functools.cache
def _static_files() -> frozenset[str]:
    return frozenset(entry.name for entry in STATIC_DIR.iterdir() if entry.is_file())


@router.get("/ui/options")
def options(settings: SettingsDep) -> dict[str, Any]:
    """The choices the page's forms offer and the limits the server enforces."""
    # `name` is not a spec field: the server picks <dataset>-<architecture>-<hex>.
    defaults = {
        name: field.default for name, field in TrainingSpec.model_fields.items() if name in FORM_FIELDS
    }
    return {
        "architectures": [
            {"name": name, "conditional": name in CONDITIONAL_ARCHITECTURES} for name in ARCHITECTURES
        ],
        "losses": list(LOSSES),
        "divergences": list(F_DIVERGENCES),
        "train_defaults": defaults,
        "limits": {
            "max_count": settings.max_count,
            "max_frames": settings.max_frames,
            "max_train_steps": settings.max_train_steps,
            "max_batch_size": settings.max_batch_size,
            "max_image_size": settings.max_image_size,
            "max_upload_bytes": settings.max_upload_bytes,
            "max_seed": str(MAX_SEED),  # beyond JavaScript's exact integers: sent as text
            "min_truncation": MIN_TRUNCATION,
        },
        "default_model": settings.default_model,
    }
