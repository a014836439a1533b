"""A small synchronous Python client for the ganserve HTTP API.

    from client import GanServeClient

    with GanServeClient("http://127.0.0.1:8000") as client:
        job = client.train({"dataset": "digits", "steps": 200})
        client.wait(job["id"])
        png = client.sample(seed=7, model=job["model"], count=16)

Every non-2xx answer raises ``ApiError`` with the server's ``detail``. The package is apart from
the server's (``app``) on purpose: importing it loads httpx and nothing of the server, and leaves
the process environment as it was (``app`` sets OpenMP's wait policy when imported).
"""

from __future__ import annotations

from client.api import GanServeClient, Strip
from client.errors import ApiError
from client.jobs import FINAL_STATUSES
from client.sse import parse_sse

__all__ = ["FINAL_STATUSES", "ApiError", "GanServeClient", "Strip", "parse_sse"]
