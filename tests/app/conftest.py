"""Fixtures for the HTTP app: a temporary data folder, tiny checkpoints, the real TestClient."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from common.settings import Settings, load_settings
from tests.app.tiny_models import write_tiny_model
from tests.support.problems import checking_problems
from tests.support.processes import RedisServer

MakeClient = Callable[..., TestClient]


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings from a dict, as the environment would give them (no process env involved)."""
    environ = {
        "GAN_DATA_DIR": str(data_dir),
        "GAN_PRETRAINED_DIR": str(data_dir / "pretrained"),
        "GAN_DEFAULT_MODEL": "tiny",
        "GAN_TORCH_THREADS": "1",
        # Nothing listens on port 1: "Redis down" unless a test starts one.
        "GAN_REDIS_URL": "redis://127.0.0.1:1/0",
        "GAN_SSE_POLL_INTERVAL": "0.05",
    }
    environ.update({f"GAN_{key.upper()}": str(value) for key, value in overrides.items()})
    return load_settings(environ)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def make_client(data_dir: Path) -> Iterator[MakeClient]:
    """``make_client(**settings)`` -> a started TestClient; all are closed after the test."""
    clients: list[TestClient] = []

    def factory(**overrides: Any) -> TestClient:
        client = checking_problems(TestClient(create_app(make_settings(data_dir, **overrides))))
        client.__enter__()  # runs the lifespan: thread pool, data folders
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def tiny_model(data_dir: Path) -> Path:
    """An unconditional 8x8 DCGAN called 'tiny' (the default model), checkpoint at step 10."""
    return write_tiny_model(data_dir / "models", "tiny", step=10)


@pytest.fixture
def client(make_client: MakeClient, tiny_model: Path) -> TestClient:
    return make_client()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private redis-server for the session (never the machine's shared one)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The private server's URL, emptied before each test."""
    redis_server.client().flushall()
    return redis_server.url
