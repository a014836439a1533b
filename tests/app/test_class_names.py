"""Class names travel with the model: written into its checkpoints by the trainer, listed from
there, so they survive the dataset being deleted and the model being copied elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.main import create_app
from cli.main import main
from common.settings import Settings
from models.checkpoint import export_generator, read_checkpoint_info
from models.training import run_files
from tests.support.problems import fields_of

CLASSES = ("circles", "squares")


def class_folders(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for index, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(12):
            pixels = (rng.random((8, 8)) * 80 + 150 * index).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A conditional model trained from class folders that no dataset catalog knows."""
    base = tmp_path_factory.mktemp("names")
    folders = class_folders(base / "images")
    data_dir = base / "data"
    argv = ["train", "--dataset", "folder", "--dataset-path", str(folders), "--architecture", "cdcgan"]
    argv += ["--steps", "4", "--g-width", "4", "--d-width", "4", "--batch-size", "8", "--eval-samples", "0"]
    assert main([*argv, "--name", "named", "--data-dir", str(data_dir), "--quiet"]) == 0
    return data_dir


def test_the_checkpoint_stores_the_class_names_and_export_keeps_them(trained: Path, tmp_path: Path) -> None:
    run = trained / "models" / "named"
    checkpoint = run_files.checkpoint_path(run, run_files.checkpoint_steps(run)[-1])
    assert read_checkpoint_info(checkpoint).class_names == CLASSES
    exported = export_generator(checkpoint, tmp_path / "g.safetensors")
    assert read_checkpoint_info(exported.path).class_names == CLASSES


def test_the_listing_names_the_classes_without_the_dataset(trained: Path) -> None:
    # The images folder is not a dataset of this data folder: the names come from the file.
    app = create_app(Settings(data_dir=trained, redis_url="redis://127.0.0.1:1/0"))
    with TestClient(app) as client:
        card = client.get("/models/named").json()
        listed = {m["name"]: m for m in client.get("/models").json()}
    assert card["class_names"] == list(CLASSES) and card["num_classes"] == 2
    assert listed["named"]["class_names"] == list(CLASSES)


def test_label_takes_a_class_name_or_an_index_on_every_route(trained: Path, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=trained, redis_url="redis://127.0.0.1:1/0"))
    with TestClient(app) as client:

        def get(path: str, **params: object) -> bytes:
            response = client.get(path, params={"model": "named", **params})
            assert response.status_code == 200, response.text
            return response.content

        assert get("/sample", seed=5, label="squares") == get("/sample", seed=5, label=1)
        assert get("/sample", seed=5, label="circles") != get("/sample", seed=5, label="squares")
        assert get("/sample", seed=5, count=4, label="squares") == get("/sample", seed=5, count=4, label=1)
        strip = get("/interpolate", start=1, end=2, steps=4, label="circles")
        assert strip == get("/interpolate", start=1, end=2, steps=4, label=0)
        latents = [[0.1] * 100, [-0.2] * 100]
        by_name = client.post(
            "/sample", json={"model": "named", "latents": latents, "labels": ["squares", 0]}
        )
        by_index = client.post("/sample", json={"model": "named", "latents": latents, "labels": [1, 0]})
        assert by_name.status_code == 200 and by_name.content == by_index.content

        unknown = client.get("/sample", params={"model": "named", "label": "triangles"})
        assert unknown.status_code == 422
        assert unknown.json()["detail"] == (
            "unknown label 'triangles' for model 'named': "
            "expected one of 'circles', 'squares' or an index 0..1"
        )
        assert fields_of(unknown) == {"label"}
        in_body = client.post("/sample", json={"model": "named", "latents": latents, "labels": [0, "x"]})
        assert in_body.status_code == 422 and fields_of(in_body) == {"labels.1"}
        assert (
            client.get(
                "/interpolate", params={"model": "named", "start": 1, "end": 2, "label": "x"}
            ).status_code
            == 422
        )

    # The command line reads a label the same way and draws the same pixels.
    out = tmp_path / "cli.png"
    argv = [
        "sample",
        "named",
        "--seed",
        "5",
        "--label",
        "squares",
        "--data-dir",
        str(trained),
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    assert out.read_bytes() == get_bytes(trained, seed=5, label=1)


def get_bytes(data_dir: Path, **params: object) -> bytes:
    app = create_app(Settings(data_dir=data_dir, redis_url="redis://127.0.0.1:1/0", torch_threads=1))
    with TestClient(app) as client:
        return client.get("/sample", params={"model": "named", **params}).content
