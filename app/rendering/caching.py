"""HTTP caching of deterministic images: strong ETags and Cache-Control policy."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Bump when rendering changes (encoder settings, label defaults, kernels, ...) so old ETags stop
# matching. 2: the CPU runs oneDNN's kernels in probed pass sizes (models/inference/passes.py), whose
# rounding may differ in the last bit from the native kernels of version 1. 3: PNGs are written
# with zlib's run-length strategy (models/inference/images.py): the same pixels, other bytes.
RENDER_VERSION = 3
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def image_etag(content_sha256: str, device: str, parameters: dict[str, Any]) -> str:
    """A strong ETag over the checkpoint's content hash and every rendering parameter.

    The device is included because float results (and so pixels) may differ across devices.
    """
    payload = json.dumps(
        {"v": RENDER_VERSION, "checkpoint": content_sha256, "device": device, **parameters},
        sort_keys=True,
        separators=(",", ":"),
    )
    return '"' + hashlib.sha256(payload.encode()).hexdigest()[:40] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header value matches ``etag`` (weak comparison, RFC 9110)."""
    if not if_none_match:
        return False
    candidates = [value.strip() for value in if_none_match.split(",")]
    return any(value == "*" or value.removeprefix("W/") == etag for value in candidates)


def cache_control(pinned: bool) -> str:
    """Pinned checkpoints (``name@step``) never change; ``name`` may move to a newer step."""
    return IMMUTABLE if pinned else REVALIDATE
