"""Images from a generator: seeded samples and grids, given latents, and interpolations.

Every image is a pure function of (checkpoint, parameters), so responses carry a strong ETag
and are immutable when the checkpoint is pinned with ``name@step``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import runtime_of
from app.api.errors import check_limit, sampling_errors, unprocessable
from app.api.plain_params import PlainParamsRoute
from app.core.bounds import INTERPOLATE_STEPS, SAMPLE_COUNT, SAMPLE_LATENTS
from app.rendering.caching import cache_control, etag_matches, image_etag
from app.rendering.execute import RenderedImage
from app.rendering.plans import plan_interpolation, plan_latents, plan_seeds
from app.services.models.entries import LoadedModel
from app.wiring import Runtime
from models.inference import MAX_SEED, MIN_TRUNCATION, class_names_of, grid_seeds, label_index

# PlainParamsRoute: the GET routes' query parameters are validated without FastAPI's
# per-request introspection (app/api/plain_params.py); POST /sample, with a body, is FastAPI's.
router = APIRouter(tags=["sampling"], route_class=PlainParamsRoute)
# The image routes take the Request and look the Runtime up themselves instead of declaring
# RuntimeDep: FastAPI resolves a dependency per request (cache keys, scope checks), which was
# about a tenth of the event loop's time per GET /sample in a profile under load. (A dependency
# would also take a route off PlainParamsRoute's fast path.)

ImageFormat = Literal["png", "webp", "jpeg"]
IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"image/png": {}, "image/webp": {}, "image/jpeg": {}},
        "description": "The image (PNG unless `format` says otherwise).",
    },
    304: {"description": "Not modified: the If-None-Match ETag still matches."},
    404: {"description": "Unknown model or checkpoint; `available` lists (up to 20 of) the models."},
    503: {"description": "The model cannot be loaded, or the server is busy."},
}

ModelParam = Annotated[
    str | None,
    Query(
        description="model name (newest checkpoint) or name@step (pinned); "
        "default: the server's default model"
    ),
]
SeedParam = Annotated[int, Query(ge=0, le=MAX_SEED, description="seed in 0..2^63-1")]
TruncationParam = Annotated[
    float | None,
    Query(
        ge=MIN_TRUNCATION,
        allow_inf_nan=False,
        description="truncation psi: latent components beyond ±psi are re-drawn",
    ),
]
LabelParam = Annotated[
    str | None,
    Query(
        max_length=256,
        description="class (conditional models only): a class name (GET /models/{name} lists "
        "them) or an index. Default: (seed + i) % num_classes for tile i; unconditional "
        "models refuse a label",
    ),
]
FormatParam = Annotated[ImageFormat, Query(alias="format", description="png, webp or jpeg")]
IfNoneMatch = Annotated[str | None, Header(include_in_schema=False)]


async def _acquire(runtime: Runtime, model: str | None, location: str = "query") -> LoadedModel:
    ref = model or runtime.settings.default_model
    with sampling_errors(runtime.registry, location):
        # A model already in memory resolves with a directory scan, cheaper than a thread hop;
        # anything that would read a file (a new header, the weights) goes to the pool.
        loaded = runtime.registry.acquire(ref, cached_only=True)
        if loaded is None:
            loaded = await runtime.pool.run(runtime.registry.acquire, ref)
        return loaded


def _cache_headers(runtime: Runtime, loaded: LoadedModel, parameters: dict[str, Any]) -> dict[str, str]:
    """ETag (over the checkpoint and every rendering parameter), Cache-Control and X-Model."""
    etag = image_etag(loaded.info.content_sha256, runtime.device, parameters)
    return {"ETag": etag, "Cache-Control": cache_control(loaded.pinned), "X-Model": loaded.ref}


def _image(rendered: RenderedImage, headers: dict[str, str]) -> Response:
    """The image response, with the frame geometry clients cut tiles by."""
    headers = headers | {
        "X-Frame-Count": str(rendered.tiles),
        "X-Frame-Width": str(rendered.tile_width),
        "X-Frame-Height": str(rendered.tile_height),
    }
    return Response(rendered.content, media_type=rendered.media_type, headers=headers)


def _label(
    runtime: Runtime,
    loaded: LoadedModel,
    label: str | int | None,
    location: str = "query",
    field: str = "label",
) -> int | None:
    """The class index ``label`` names for ``loaded`` (a name or an index), or a 422 about
    ``field`` that lists the valid ones."""
    if label is None:  # the common case skips the context manager (a hot path)
        return None
    with sampling_errors(location=location, field=field):
        names = class_names_of(loaded.info, runtime.datasets.class_names)
        num_classes = loaded.info.model_config.num_classes
        return label_index(label, names, num_classes, subject=f"model {loaded.name!r}")


@router.get("/sample", response_class=Response, responses=IMAGE_RESPONSES)
async def sample(
    request: Request,
    seed: SeedParam = 0,
    model: ModelParam = None,
    count: Annotated[
        int, Query(ge=1, description="tiles in the grid (1..max_count); tile i is the image of seed + i")
    ] = 1,
    columns: Annotated[int | None, Query(ge=1, description="tiles per row")] = None,
    truncation: TruncationParam = None,
    label: LabelParam = None,
    image_format: FormatParam = "png",
    if_none_match: IfNoneMatch = None,
) -> Response:
    """One image, or a grid whose tile ``i`` is the image of seed ``seed + i``."""
    runtime = runtime_of(request)
    check_limit(SAMPLE_COUNT, runtime.settings, count)
    try:
        seeds = grid_seeds(seed, count)
    except ValueError as error:
        raise unprocessable(str(error), location="query", field="seed") from None
    loaded = await _acquire(runtime, model)
    index = _label(runtime, loaded, label)
    parameters = {
        "op": "sample",
        "seed": seed,
        "count": count,
        "columns": columns,
        "truncation": truncation,
        "label": index,
        "format": image_format,
    }
    headers = _cache_headers(runtime, loaded, parameters)
    if etag_matches(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    with sampling_errors():
        # Planning is cheap (labels, no tensors); the renderer may batch with other requests.
        plan = plan_seeds(
            loaded, seeds, truncation=truncation, label=index, columns=columns, image_format=image_format
        )
        rendered = await runtime.renderer.render(loaded, plan)
    return _image(rendered, headers)


FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class LatentsRequest(BaseModel):
    """Images of explicit latent vectors (e.g. edited or interpolated by a client)."""

    model_config = ConfigDict(extra="forbid")

    latents: list[list[FiniteFloat]] = Field(
        min_length=1, description="one latent vector per image, each of the model's latent_dim"
    )
    model: str | None = Field(default=None, description="name or name@step")
    labels: list[Annotated[int, Field(ge=0)] | Annotated[str, Field(max_length=256)]] | None = Field(
        default=None,
        description="one label per vector (conditional models), a class name or an index; "
        "default i % num_classes",
    )
    codes: list[Annotated[int, Field(ge=0)]] | None = Field(
        default=None,
        description="one categorical code per vector (models with `codes` > 0 in GET /models/{name}): "
        "the vector's code components are reordered so that it draws this code; "
        "default the code the vector already carries",
    )
    columns: int | None = Field(default=None, ge=1)
    format: ImageFormat = "png"


@router.post("/sample", response_class=Response, responses=IMAGE_RESPONSES)
async def sample_latents(request: Request, body: LatentsRequest) -> Response:
    """A grid of the images of the given latent vectors (read-only: no API key needed)."""
    runtime = runtime_of(request)
    check_limit(SAMPLE_LATENTS, runtime.settings, body.latents)
    loaded = await _acquire(runtime, body.model, "body")
    labels = (
        None
        if body.labels is None
        else [
            _label(runtime, loaded, label, "body", f"labels.{index}")
            for index, label in enumerate(body.labels)
        ]
    )
    with sampling_errors(location="body"):
        # In the pool: converting up to max_count vectors to a tensor is not free.
        plan = await runtime.pool.run(
            plan_latents,
            loaded,
            body.latents,
            labels=labels,
            codes=body.codes,
            columns=body.columns,
            image_format=body.format,
        )
        rendered = await runtime.renderer.render(loaded, plan)
    return _image(rendered, {"Cache-Control": "no-store", "X-Model": loaded.ref})


@router.get("/interpolate", response_class=Response, responses=IMAGE_RESPONSES)
async def interpolate(
    request: Request,
    start: SeedParam,
    end: SeedParam,
    steps: Annotated[int, Query(ge=2, description="frames, both ends included (2..max_frames)")] = 8,
    mode: Annotated[Literal["slerp", "lerp"], Query()] = "slerp",
    model: ModelParam = None,
    truncation: TruncationParam = None,
    label: Annotated[
        str | None,
        Query(
            max_length=256,
            description="class for every frame (conditional models), a class name or an index. "
            "Default: the first half uses start % num_classes, the rest end % num_classes, so "
            "the end frames equal GET /sample of each seed",
        ),
    ] = None,
    image_format: FormatParam = "png",
    if_none_match: IfNoneMatch = None,
) -> Response:
    """A one-row strip of frames from seed ``start`` to seed ``end``.

    Frame 0 is pixel-identical to ``GET /sample?seed=start`` and the last frame to
    ``GET /sample?seed=end`` with the same model, truncation and label. Frame geometry is in
    ``X-Frame-Count``, ``X-Frame-Width`` and ``X-Frame-Height``.
    """
    runtime = runtime_of(request)
    check_limit(INTERPOLATE_STEPS, runtime.settings, steps)
    loaded = await _acquire(runtime, model)
    index = _label(runtime, loaded, label)
    parameters = {
        "op": "interpolate",
        "start": start,
        "end": end,
        "steps": steps,
        "mode": mode,
        "truncation": truncation,
        "label": index,
        "format": image_format,
    }
    headers = _cache_headers(runtime, loaded, parameters)
    if etag_matches(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    with sampling_errors():
        plan = plan_interpolation(
            loaded,
            start,
            end,
            steps=steps,
            mode=mode,
            truncation=truncation,
            label=index,
            image_format=image_format,
        )
        rendered = await runtime.renderer.render(loaded, plan)
    return _image(rendered, headers)
