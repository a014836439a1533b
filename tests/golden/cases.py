"""Golden hashes of the bytes the service and the CLI produce for the shipped models.

One fixed list of cases, and the one function (:func:`model_hashes`) that renders them and
hashes the bytes; ``tests/golden/test_golden.py`` compares its answer with ``hashes.json`` and
``scripts/record_golden.py`` writes it there. See docs/golden-hashes.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import torch
from fastapi.testclient import TestClient

from app.rendering.caching import RENDER_VERSION
from cli.engine_commands import resolve_checkpoint
from cli.main import main as cli_main
from models.checkpoint import read_checkpoint_info

ROOT = Path(__file__).resolve().parents[2]
PRETRAINED = ROOT / "pretrained"
HASHES_PATH = Path(__file__).resolve().parent / "hashes.json"
RECORD_COMMAND = ".venv/bin/python scripts/record_golden.py"

# The API under test runs one torch thread per forward pass (make_settings pins
# GAN_TORCH_THREADS=1); the CLI is pinned to the same so its bytes cannot depend on the host's
# core count or on whether an app ran earlier in the process (its lifespan sets the thread
# count process-wide). 1 and 2 threads gave the same bytes on the recording host.
TORCH_THREADS = 1
# One class index every conditional model has (a binary one included).
LABEL = 1

Kind = Literal["get", "post", "cli"]
Value = int | float | str | list[int]


@dataclass(frozen=True)
class Case:
    """One request or command whose output bytes are pinned.

    ``target`` is the route path for ``get``/``post`` and the subcommand for ``cli``. For
    ``get`` the params are the query; for ``cli`` they become ``--name value`` flags; for
    ``post`` they are body fields, except ``rows``: that many :func:`explicit_latents` vectors.
    """

    id: str
    kind: Kind
    target: str
    params: Mapping[str, Value] = field(default_factory=dict)
    conditional_only: bool = False


CASES: tuple[Case, ...] = (
    # Every model.
    Case("get-sample-seed-0", "get", "/sample", {"seed": 0}),
    Case("get-sample-seed-42", "get", "/sample", {"seed": 42}),
    Case("get-sample-seed-42-trunc-0.7", "get", "/sample", {"seed": 42, "truncation": 0.7}),
    Case("get-grid-seed-10-count-6-cols-3", "get", "/sample", {"seed": 10, "count": 6, "columns": 3}),
    # Default columns: a near-square 3x2 layout with one empty tile.
    Case("get-grid-seed-10-count-5", "get", "/sample", {"seed": 10, "count": 5}),
    Case("post-latents-3", "post", "/sample", {"rows": 3, "columns": 3}),
    Case("get-interpolate-7-12", "get", "/interpolate", {"start": 7, "end": 12}),
    Case("get-interpolate-7-12-trunc-0.7", "get", "/interpolate", {"start": 7, "end": 12, "truncation": 0.7}),
    Case(
        "get-interpolate-7-12-lerp-5",
        "get",
        "/interpolate",
        {"start": 7, "end": 12, "steps": 5, "mode": "lerp"},
    ),
    Case("cli-sample-seed-42", "cli", "sample", {"seed": 42}),
    Case("cli-sample-seed-42-trunc-0.7", "cli", "sample", {"seed": 42, "truncation": 0.7}),
    Case("cli-grid-seed-10-count-6-cols-3", "cli", "sample", {"seed": 10, "count": 6, "columns": 3}),
    # Unlabelled on a conditional model, these follow the route's label rule since issue 15
    # (before, the CLI gave every frame the start seed's class); test_golden checks every CLI
    # case against its GET twin.
    Case("cli-interpolate-7-12", "cli", "interpolate", {"start": 7, "end": 12}),
    Case("cli-interpolate-7-12-trunc-0.7", "cli", "interpolate", {"start": 7, "end": 12, "truncation": 0.7}),
    # Class-conditional models only.
    Case("get-sample-seed-42-label", "get", "/sample", {"seed": 42, "label": LABEL}, True),
    Case(
        "get-grid-seed-10-count-6-cols-3-label",
        "get",
        "/sample",
        {"seed": 10, "count": 6, "columns": 3, "label": LABEL},
        True,
    ),
    Case("get-interpolate-7-12-label", "get", "/interpolate", {"start": 7, "end": 12, "label": LABEL}, True),
    Case("post-latents-3-labels", "post", "/sample", {"rows": 3, "labels": [LABEL, 0, LABEL]}, True),
    Case("cli-sample-seed-42-label", "cli", "sample", {"seed": 42, "label": LABEL}, True),
    Case(
        "cli-grid-seed-10-count-6-cols-3-label",
        "cli",
        "sample",
        {"seed": 10, "count": 6, "columns": 3, "label": LABEL},
        True,
    ),
    Case("cli-interpolate-7-12-label", "cli", "interpolate", {"start": 7, "end": 12, "label": LABEL}, True),
)


@dataclass(frozen=True)
class ShippedModel:
    """A model under ``pretrained/`` and the checkpoint the CLI reads for its folder."""

    name: str
    checkpoint: Path
    content_sha256: str
    conditional: bool
    latent_dim: int

    @property
    def cases(self) -> tuple[Case, ...]:
        return tuple(case for case in CASES if self.conditional or not case.conditional_only)


def shipped_models() -> list[ShippedModel]:
    """The folders of ``pretrained/`` with a ``build.json``, read from their checkpoint headers."""
    models = []
    for build in sorted(PRETRAINED.glob("*/build.json")):
        checkpoint = resolve_checkpoint(build.parent)
        info = read_checkpoint_info(checkpoint)
        models.append(
            ShippedModel(
                build.parent.name,
                checkpoint,
                info.content_sha256,
                info.model_config.num_classes > 0,
                info.model_config.latent_dim,
            )
        )
    return models


def serving_form() -> str:
    """Everything besides the checkpoint and the request that decides the bytes on this host.

    Device and dtype are fixed by the harness (the app is started with ``device=cpu``; serving
    and the CLI compute in float32); the torch build and the CPU's vector instructions pick the
    kernels and so the rounding; ``RENDER_VERSION`` is bumped by whoever changes rendering on
    purpose.
    """
    capability = torch.backends.cpu.get_cpu_capability()
    return f"cpu/float32/torch-{torch.__version__}/{capability}/render-{RENDER_VERSION}"


def client_settings(model: ShippedModel) -> dict[str, Any]:
    """Settings overrides for ``make_client``/``make_settings``: the app as a fresh install."""
    return {"pretrained_dir": PRETRAINED, "default_model": model.name, "device": "cpu"}


def explicit_latents(rows: int, latent_dim: int) -> list[list[float]]:
    """Fixed vectors for ``POST /sample``, in multiples of 1/4 in [-1.5, 1.5] so JSON and float32
    carry them exactly; made here, not by the sampling code under test."""
    return [[((7 * index + 3 * row) % 13 - 6) / 4 for index in range(latent_dim)] for row in range(rows)]


def model_hashes(model: ShippedModel, client: TestClient, workdir: Path) -> dict[str, str]:
    """Render every case of ``model`` and hash the bytes.

    Args:
        model: the shipped model.
        client: a started TestClient over the real app with :func:`client_settings`.
        workdir: an empty folder for the CLI's output files.

    Returns:
        ``{case_id: sha256 hex of the response body or output file}``.

    Raises:
        AssertionError: the service serves another checkpoint than the CLI reads, disagrees
            about conditionality, or a request or command fails.
    """
    _check_served(model, client)
    hashes = {}
    for case in model.cases:
        content = _run_cli(model, case, workdir) if case.kind == "cli" else _request(model, case, client)
        hashes[case.id] = hashlib.sha256(content).hexdigest()
    return hashes


def _check_served(model: ShippedModel, client: TestClient) -> None:
    """The keys of hashes.json assume both surfaces render this one checkpoint."""
    summary = _ok(client.get(f"/models/{model.name}"), f"GET /models/{model.name}").json()
    step = summary["latest_step"]
    detail = _ok(client.get(f"/models/{model.name}/checkpoints/{step}"), "GET checkpoint").json()
    assert detail["content_sha256"] == model.content_sha256, (
        f"{model.name}: the service serves step {step} ({detail['content_sha256']}), "
        f"the CLI reads {model.checkpoint} ({model.content_sha256})"
    )
    assert summary["conditional"] == model.conditional, f"{model.name}: listing and header disagree"


def _request(model: ShippedModel, case: Case, client: TestClient) -> bytes:
    if case.kind == "get":
        response = client.get(case.target, params={"model": model.name, **case.params})
    else:
        body: dict[str, Any] = {key: value for key, value in case.params.items() if key != "rows"}
        rows = case.params["rows"]
        assert isinstance(rows, int)
        body |= {"model": model.name, "latents": explicit_latents(rows, model.latent_dim)}
        response = client.post(case.target, json=body)
    checked = _ok(response, f"{case.kind.upper()} {case.target} ({case.id})")
    assert checked.headers["content-type"] == "image/png", case.id
    return checked.content


def _run_cli(model: ShippedModel, case: Case, workdir: Path) -> bytes:
    output = workdir / f"{model.name}-{case.id}.png"
    flags = [item for key, value in case.params.items() for item in (f"--{key}", str(value))]
    argv = [case.target, str(PRETRAINED / model.name), *flags, "-o", str(output)]
    stdout = io.StringIO()
    with _cli_kernels(), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stdout):
        status = cli_main(argv)
    assert status == 0, f"ganserve {' '.join(argv)} exited {status}: {stdout.getvalue()}"
    return output.read_bytes()


@contextlib.contextmanager
def _cli_kernels() -> Iterator[None]:
    """The kernel setting the served app uses (see :data:`TORCH_THREADS`), restored after."""
    threads, onednn = torch.get_num_threads(), bool(torch.backends.mkldnn.enabled)
    torch.set_num_threads(TORCH_THREADS)
    torch.backends.mkldnn.enabled = True  # type: ignore[assignment]  # a module property torch's stubs miss
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.backends.mkldnn.enabled = onednn  # type: ignore[assignment]


def _ok(response: httpx.Response, what: str) -> httpx.Response:
    assert response.status_code == 200, f"{what}: {response.status_code} {response.text[:300]}"
    return response


def load_records(path: Path = HASHES_PATH) -> dict[str, dict[str, dict[str, str]]]:
    """``{serving form: {checkpoint content hash: {case id: sha256}}}``; empty if no file yet."""
    if not path.exists():
        return {}
    records: dict[str, dict[str, dict[str, str]]] = json.loads(path.read_text())
    return records
