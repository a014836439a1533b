"""POST /train completes a request from the data: a dataset name alone is a whole, good job,
at the data's own size, and what the request set is kept."""

from __future__ import annotations

import io
import zipfile

import numpy as np

from models.inference import encode_image
from tests.app.conftest import MakeClient


def square_zip(side: int, classes: tuple[str, ...], per_class: int = 3) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, name in enumerate(classes):
            for item in range(per_class):
                pixels = np.full((side, side, 1), 60 * index + item, dtype=np.uint8)
                archive.writestr(f"{name}/{item}.png", encode_image(pixels))
    return buffer.getvalue()


def test_a_dataset_name_alone_is_a_whole_job_chosen_for_the_data(
    make_client: MakeClient, redis_url: str
) -> None:
    response = make_client(redis_url=redis_url).post("/train", json={"dataset": "digits"})
    assert response.status_code == 202, response.text
    config = response.json()["config"]
    assert (config["architecture"], config["image_size"], config["channels"]) == ("cdcgan", 8, 1)
    assert (config["g_width"], config["d_width"], config["steps"]) == (32, 32, 10_000)


def test_an_upload_trains_at_its_own_size_and_channels(make_client: MakeClient, redis_url: str) -> None:
    client = make_client(redis_url=redis_url)
    archive = square_zip(32, ("circles", "squares"))
    created = client.post(
        "/datasets", data={"name": "blobs"}, files={"file": ("b.zip", archive, "application/zip")}
    )
    assert created.status_code == 201, created.text
    response = client.post("/train", json={"dataset": "blobs"})
    assert response.status_code == 202, response.text
    config = response.json()["config"]
    assert (config["architecture"], config["image_size"], config["channels"]) == ("cdcgan", 32, 1)


def test_fields_the_request_sets_are_kept(make_client: MakeClient, redis_url: str) -> None:
    body = {"dataset": "digits", "architecture": "dcgan", "steps": 1000, "g_width": 64}
    response = make_client(redis_url=redis_url).post("/train", json=body)
    assert response.status_code == 202, response.text
    config = response.json()["config"]
    assert {key: config[key] for key in body} == body
    assert config["image_size"] == 8 and config["d_width"] == 32
