"""The models the server can sample from, their checkpoints and training timelines."""

from __future__ import annotations

import threading

from cachetools import LRUCache
from fastapi import APIRouter, Request, Response

from app.api.deps import DatasetsDep, RegistryDep, SettingsDep
from app.api.errors import not_found, unknown_model
from app.api.pagination import PAGE_HEADERS, PageDep, paginate
from app.api.routes.samples import IMAGE_RESPONSES
from app.api.strict import StrictRoute
from app.schemas.models import BrokenCheckpoint, CheckpointDetail, ModelSummary
from app.services.datasets.catalog import DatasetCatalog
from app.services.models.entries import ModelEntry
from app.services.models.registry import ModelRegistry
from models.inference import class_names_of, code_components
from models.training import run_files

router = APIRouter(prefix="/models", tags=["models"], route_class=StrictRoute)


# Summaries by everything they are made of: listings ask for every model's summary on every call,
# and rebuilding them (config parsing, class names, pydantic models) grew the cost of a listing
# with every model kept (soak, docs/reliability.md). Bounded, least recently used first out.
_summaries: LRUCache[tuple[object, ...], ModelSummary] = LRUCache(maxsize=4096)
_summaries_lock = threading.Lock()


def summarize(entry: ModelEntry, default_model: str, catalog: DatasetCatalog) -> ModelSummary:
    """The client's view of a model (cached per set of checkpoint files and grids)."""
    samples = tuple(run_files.sample_steps(entry.directory))
    key = (
        entry.name,
        entry.source,
        entry.directory,
        default_model,
        samples,
        tuple((c.file_key, c.error) for c in entry.checkpoints),
    )
    with _summaries_lock:
        summary = _summaries.get(key)
    if summary is None:
        summary = _build_summary(entry, default_model, catalog, list(samples))
        with _summaries_lock:
            _summaries[key] = summary
    return summary.model_copy()  # handlers may add to it; the cached one stays as built


def _build_summary(
    entry: ModelEntry, default_model: str, catalog: DatasetCatalog, samples: list[int]
) -> ModelSummary:
    """The client's view of a model: read from its newest readable checkpoint header."""
    readable = [c for c in entry.checkpoints if c.info is not None]
    summary = ModelSummary(
        name=entry.name,
        source=entry.source,
        default=entry.name == default_model,
        checkpoints=[c.step for c in entry.checkpoints],
        latest_step=entry.latest.step,
        samples=samples,
        created_at=entry.created_at,
        error=entry.error,
        broken_checkpoints=[
            BrokenCheckpoint(step=c.step, error=c.error) for c in entry.checkpoints if c.error
        ],
        links={"self": f"/models/{entry.name}", "sample": f"/sample?model={entry.name}"},
    )
    if readable:
        info = readable[-1].info
        assert info is not None
        config = info.model_config
        summary.architecture = config.architecture
        summary.image_size = config.image_size
        summary.channels = config.channels
        summary.latent_dim = config.latent_dim
        summary.num_classes = config.num_classes
        summary.conditional = config.num_classes > 0
        summary.codes = code_components(config)
        names = class_names_of(info, catalog.class_names)
        summary.class_names = None if names is None else list(names)
        summary.dataset = info.train_config.get("dataset")
        summary.metrics = info.metrics
        quality = info.metrics.get("quality")
        summary.quality = quality if isinstance(quality, dict) else None
    return summary


def _find(registry: ModelRegistry, name: str) -> ModelEntry:
    entry = registry.find(name)
    if entry is None:
        raise unknown_model(f"unknown model {name[:64]!r}", registry)
    return entry


@router.get("", responses={200: {"headers": PAGE_HEADERS}})
def list_models(
    registry: RegistryDep,
    settings: SettingsDep,
    catalog: DatasetsDep,
    page: PageDep,
    request: Request,
    response: Response,
) -> list[ModelSummary]:
    """Models with at least one checkpoint, by name, a page at a time (``limit``, ``offset``;
    see the ``Link`` header); unreadable ones carry an ``error``."""
    entries = paginate(registry.list_models(), page, request, response)
    return [summarize(m, settings.default_model, catalog) for m in entries]


@router.get("/{name}", responses={404: {"description": "Unknown model."}})
def get_model(name: str, registry: RegistryDep, settings: SettingsDep, catalog: DatasetsDep) -> ModelSummary:
    """One model, as in the listing."""
    return summarize(_find(registry, name), settings.default_model, catalog)


@router.get("/{name}/checkpoints/{step}", responses={404: {"description": "Unknown."}})
def get_checkpoint(name: str, step: int, registry: RegistryDep) -> CheckpointDetail:
    """The header of one checkpoint: configs, metrics, content hash (or why it is unreadable)."""
    checkpoint = _find(registry, name).checkpoint(step)
    if checkpoint is None:
        raise not_found(f"model {name!r} has no checkpoint at step {step}")
    if checkpoint.info is None:
        return CheckpointDetail(model=name, step=step, error=checkpoint.error)
    detail = checkpoint.info.to_dict()
    detail.pop("path")  # a server path means nothing to a client
    return CheckpointDetail(model=name, **detail)


@router.get("/{name}/samples/{step}", response_class=Response, responses=IMAGE_RESPONSES)
def get_model_sample(name: str, step: int, registry: RegistryDep) -> Response:
    """The fixed-noise grid saved at ``step`` (seeds 0..n-1, as ``GET /sample`` renders)."""
    path = run_files.sample_path(_find(registry, name).directory, step)
    try:
        content = path.read_bytes()
    except (OSError, ValueError):
        raise not_found(f"model {name!r} has no sample grid at step {step}") from None
    return Response(content, media_type="image/png", headers={"Cache-Control": "no-cache"})
