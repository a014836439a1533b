"""A full data disk: 507 with a clear message on the routes that write, nothing half-made left,
and ``/readyz`` not ready below the free-space floor. The disk is a real, tiny tmpfs."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from models.inference import encode_image
from tests.app.conftest import MakeClient
from tests.app.tiny_models import write_tiny_model
from tests.support.disks import fill, make_room, tmpfs

MINIMAL = {"dataset": "digits", "architecture": "dcgan", "steps": 200}
DISK_FULL = "the data folder's disk is full (no space left on device); free space and retry"


@pytest.fixture
def small_disk(data_dir: Path) -> Iterator[Path]:
    """The whole data folder on a 4 MiB tmpfs (requested before ``make_client``, so the apps
    are shut down before it is unmounted)."""
    with tmpfs(data_dir, "4m"):
        yield data_dir


def archive_of_images(padding_bytes: int = 256 * 1024) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for item in range(4):
            archive.writestr(f"cats/{item}.png", encode_image(np.full((8, 8, 3), item, dtype=np.uint8)))
        archive.writestr("notes.bin", os.urandom(padding_bytes))  # more than any buffer holds
    return buffer.getvalue()


def test_a_submission_on_a_full_disk_is_507_and_leaves_no_record_or_temporary(
    small_disk: Path, make_client: MakeClient, redis_url: str
) -> None:
    client = make_client(redis_url=redis_url)
    fill(small_disk)
    response = client.post("/train", json={**MINIMAL, "name": "no-room"})
    assert response.status_code == 507, response.text
    assert response.json()["detail"] == DISK_FULL
    assert str(small_disk) not in response.text
    assert os.listdir(small_disk / "jobs") == []  # neither the record nor its temporary
    assert redis.Redis.from_url(redis_url).llen("ganserve") == 0  # and nothing was queued

    make_room(small_disk)
    again = client.post("/train", json={**MINIMAL, "name": "no-room"})  # the name was not kept
    assert again.status_code == 202, again.text


def test_an_upload_on_a_full_disk_is_507_and_leaves_no_partial_dataset(
    small_disk: Path, make_client: MakeClient
) -> None:
    client = make_client()
    fill(small_disk)
    files = {"file": ("cats.zip", archive_of_images(), "application/zip")}
    response = client.post("/datasets", data={"name": "cats"}, files=files)
    assert response.status_code == 507, response.text
    assert response.json()["detail"] == DISK_FULL
    assert os.listdir(small_disk / "datasets") == []  # no `.upload-…` folder, no dataset

    make_room(small_disk)
    assert client.post("/datasets", data={"name": "cats"}, files=files).status_code == 201


def test_every_route_that_writes_documents_the_507(make_client: MakeClient) -> None:
    schema = make_client().get("/openapi.json").json()
    assert "507" in schema["paths"]["/train"]["post"]["responses"]
    assert "507" in schema["paths"]["/datasets"]["post"]["responses"]
    assert "507" not in schema["paths"]["/sample"]["get"]["responses"]


def test_readyz_reports_low_disk_below_the_floor_and_recovers(
    small_disk: Path, make_client: MakeClient, redis_url: str
) -> None:
    write_tiny_model(small_disk / "models", "tiny", step=10)
    client = make_client(redis_url=redis_url, min_free_disk_mb=1)
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["disk"] == "ok"

    fill(small_disk)
    low = client.get("/readyz")
    assert low.status_code == 503
    assert low.json()["checks"]["disk"] is None
    assert low.json()["detail"] == (
        "low disk: the data folder has 0.0 MiB free, below the floor of 1 MiB; "
        "free space (GAN_MIN_FREE_DISK_MB sets the floor)"
    )
    assert str(small_disk) not in low.text
    assert client.get("/sample", params={"seed": 1}).status_code == 200  # sampling writes nothing

    make_room(small_disk)
    assert client.get("/readyz").status_code == 200


@pytest.fixture
def small_datasets_disk(data_dir: Path) -> Iterator[Path]:
    """Only ``datasets/`` on a tmpfs of its own; the rest of the data folder has room."""
    with tmpfs(data_dir / "datasets", "1m"):
        yield data_dir / "datasets"


def test_readyz_names_a_subfolder_mounted_on_its_own_low_disk(
    small_datasets_disk: Path, data_dir: Path, make_client: MakeClient, redis_url: str
) -> None:
    write_tiny_model(data_dir / "models", "tiny", step=10)
    client = make_client(redis_url=redis_url, min_free_disk_mb=1)
    fill(small_datasets_disk)
    low = client.get("/readyz")
    assert low.status_code == 503
    assert "low disk: the data folder's datasets/ has 0.0 MiB free" in low.json()["detail"]
    assert "the data folder has" not in low.json()["detail"]  # its own disk has room
