"""Builds the FastAPI app; ``app`` is what ``uvicorn app.main:app`` serves."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Scope

from app.api import openapi
from app.api.errors import (
    client_disconnected_handler,
    http_error_handler,
    os_error_handler,
    unexpected_error,
    validation_error_handler,
)
from app.api.main import API_ROUTES, api_router
from app.core.limits import BodySizeLimitMiddleware, body_limit_bytes
from app.core.metrics import Metrics, MetricsMiddleware
from app.wiring import build_runtime, lifespan
from common.settings import Settings, load_settings

logger = logging.getLogger(__name__)

# Headers browsers may read cross-origin (the frame geometry cuts strips into frames).
EXPOSED_HEADERS = [
    "ETag",
    "Location",
    "X-Model",
    "X-Frame-Count",
    "X-Frame-Width",
    "X-Frame-Height",
]


def body_limit(settings: Settings) -> Callable[[Scope], int]:
    """The body-size cap for a request (``app.core.limits.body_limit_bytes``)."""

    def limit_for(scope: Scope) -> int:
        return body_limit_bytes(settings, scope["method"], scope["path"])

    return limit_for


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: read from the environment, once).

    Args:
        settings: every limit, folder and credential the app uses; tests pass their own.
    """
    settings = settings if settings is not None else load_settings()
    if settings.api_key is None:
        logger.warning(
            "GAN_API_KEY is not set: anyone who can reach this server can start, "
            "cancel and upload; set it on any host that is not your own machine"
        )
    app = FastAPI(
        title="ganserve",
        version="0.1.0",
        summary="Train GANs and serve seeded, deterministic samples.",
        lifespan=lifespan,
    )
    app.state.runtime = build_runtime(settings)
    app.state.metrics = Metrics()
    app.state.metrics.watch(app.state.runtime)
    app.include_router(api_router)
    openapi.install(app, settings, API_ROUTES)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)  # 405 included
    app.add_exception_handler(ClientDisconnect, client_disconnected_handler)
    app.add_exception_handler(OSError, os_error_handler)  # a full disk: 507 on every route
    app.add_exception_handler(Exception, unexpected_error)

    # add_middleware wraps what is there already: the last one added runs first.
    app.add_middleware(BodySizeLimitMiddleware, limit_for=body_limit(settings))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=EXPOSED_HEADERS,
        )
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


app = create_app()
