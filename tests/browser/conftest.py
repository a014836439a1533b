"""The real page in headless Chromium, against the real stack: Redis, a Celery worker, the API.

Chromium is Debian's package (Playwright's own browser download is not used); the Python side
is the ``playwright`` package. Missing either skips these tests on a workstation, but fails
them under ``CI=true`` so CI cannot pass by skipping them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.app.tiny_models import write_tiny_model
from tests.support.processes import ROOT, running_service

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = ROOT / "tests" / "_artifacts" / "screenshots"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
API_KEY = "browser-test-key"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
# Console noise that is not a page bug: the browser logs every 4xx/5xx response it receives,
# and the tests provoke some (a refused config, a wrong API key) on purpose.
EXPECTED_CONSOLE = ("Failed to load resource",)


def _missing_browser() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install playwright; no browser download needed)"
    return None


def _quality(step: int) -> dict[str, Any]:
    return {
        "frechet_distance": 900.0 / (1 + step / 5),
        "classes_present": min(10, 3 + step // 3),
        "num_classes": 10,
        "class_kl": 2.0 / (1 + step / 4),
        "num_generated": 64,
        "num_real": 64,
        "label_accuracy": None,
    }


@dataclass
class Stack:
    url: str
    data_dir: Path
    http: httpx.Client = field(repr=False)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Redis, one worker and the API for the whole browser session; tiny models preinstalled."""
    missing = _missing_browser()
    if missing:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"browser tests must run in CI, but {missing}")
        pytest.skip(missing)
    root = tmp_path_factory.mktemp("browser")
    models_dir = root / "data" / "models"
    for step, seed in ((5, 1), (10, 2)):  # two checkpoints: the Models view can pick one
        write_tiny_model(
            models_dir,
            "tiny",
            step=step,
            seed=seed,
            latent_dim=8,
            metrics={"step": step, "loss_d": 1.0, "loss_g": 1.0, "quality": _quality(step)},
        )
    write_tiny_model(
        models_dir,
        "tiny-cond",
        architecture="cdcgan",
        num_classes=10,
        step=10,
        seed=3,
        metrics={"step": 10, "quality": _quality(10)},
    )
    (root / "pretrained").mkdir()
    extra = {
        "GAN_API_KEY": API_KEY,
        "GAN_DEFAULT_MODEL": "tiny",
        "GAN_DEVICE": "cpu",
        "GAN_PRETRAINED_DIR": str(root / "pretrained"),
        "GAN_PROGRESS_INTERVAL": "0.1",
        "GAN_SSE_POLL_INTERVAL": "0.1",
    }
    with running_service(root, "browser", extra) as api, httpx.Client(base_url=api.url, timeout=30) as http:
        yield Stack(api.url, root / "data", http)


@pytest.fixture(scope="session")
def browser(stack: Stack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[Any]:
    """A fresh tab (own storage, so no API key carries over) that must stay on our server and
    log no errors."""
    context = browser.new_context(base_url=stack.url, viewport=DESKTOP)
    context.set_default_timeout(20_000)
    tab = context.new_page()
    problems: list[str] = []
    outside: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" and not message.text.startswith(EXPECTED_CONSOLE)
            else None
        ),
    )
    tab.on(
        "request",
        lambda request: (
            outside.append(request.url) if not request.url.startswith((stack.url, "blob:", "data:")) else None
        ),
    )
    yield tab
    context.close()
    assert not outside, f"the page loaded something from elsewhere: {outside}"
    assert not problems, problems


def shoot(page: Any, name: str) -> None:
    """Screenshots of the current view at desktop and phone width (full page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(250)  # charts redraw for the new width
        path = SCREENSHOTS / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
            _save_small(path, DOCS_SCREENSHOTS / path.name)
    page.set_viewport_size(DESKTOP)


def _save_small(source: Path, target: Path) -> None:
    """A palette PNG: a fraction of the size, and the page's flat colours survive it."""
    from PIL import Image

    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


@pytest.fixture(scope="session", autouse=True)
def _fresh_screenshots() -> None:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
