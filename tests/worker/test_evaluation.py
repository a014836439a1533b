"""A finished job judges its model against its own data: an evaluator trained on the user's
class folders (once, cached by the data's content), FD against the real floor, label accuracy
and the memorised share in the record; data that cannot have an evaluator says why."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.main import create_app
from models.inference import decode_png
from tests.support.class_images import class_zip
from tests.worker.conftest import Cluster

# Tiny networks; everything else (cdcgan at 32x32, one channel) the recipe chooses for the data.
SMALL = {"steps": 40, "g_width": 8, "d_width": 8, "latent_dim": 16, "batch_size": 16, "eval_samples": 60}


def upload(client: TestClient, name: str, counts: dict[str, int]) -> None:
    archive = class_zip(counts, side=32)
    created = client.post(
        "/datasets", data={"name": name}, files={"file": ("d.zip", archive, "application/zip")}
    )
    assert created.status_code == 201, created.text


def train(client: TestClient, cluster: Cluster, body: dict[str, object]) -> dict[str, object]:
    submitted = client.post("/train", json={**SMALL, **body})
    assert submitted.status_code == 202, submitted.text
    record = cluster.wait_final(submitted.json()["id"], timeout=180)
    assert record.status == "succeeded", record
    shown = client.get(f"/jobs/{record.id}").json()
    assert shown["config"]["image_size"] == 32 and shown["config"]["architecture"] == "cdcgan"
    assert shown["progress"]["phase"] == "done"
    return shown


def test_class_folders_get_their_own_evaluator_once_and_every_figure(cluster: Cluster) -> None:
    cluster.start_worker("w1")
    with TestClient(create_app(cluster.settings)) as client:
        upload(client, "blobs", {"circles": 60, "squares": 60})
        first = train(client, cluster, {"dataset": "blobs", "name": "first"})["evaluation"]
        assert isinstance(first, dict)
        assert first["status"] == "done" and first["reason"] is None, first
        evaluator = first["evaluator"]
        assert evaluator["kind"] == "trained for this dataset" and not evaluator["cached"]
        assert evaluator["train_seconds"] > 0 and evaluator["heldout_accuracy"] >= 0.9, evaluator
        key = evaluator["content_sha256"]
        assert (cluster.settings.cache_dir / "evaluators" / f"{key}.safetensors").is_file()
        assert first["samples"] == 60 and first["num_classes"] == 2
        assert first["fd_ratio"] == first["frechet_distance"] / first["floor_frechet_distance"]
        assert 0 <= first["classes_present"] <= 2 and first["label_accuracy"] is not None
        memorization = first["memorization"]
        assert memorization["space"] == "evaluator features" and memorization["num_reference"] == 120
        assert 0.0 <= memorization["share"] <= 1.0

        # The model samples by folder name.
        circle = client.get("/sample", params={"model": "first", "seed": 3, "label": "circles"})
        assert circle.status_code == 200 and decode_png(circle.content).shape == (32, 32, 1)
        square = client.get("/sample", params={"model": "first", "seed": 3, "label": "squares"})
        assert square.status_code == 200 and square.content != circle.content
        unknown = client.get("/sample", params={"model": "first", "label": "stars"})
        assert unknown.status_code == 422 and "'circles', 'squares'" in unknown.text

        # The same data again: the cached evaluator judges, at no training cost.
        second = train(client, cluster, {"dataset": "blobs", "name": "second"})["evaluation"]
        assert isinstance(second, dict)
        assert second["evaluator"]["cached"] and second["evaluator"]["train_seconds"] == 0
        assert second["evaluator"]["content_sha256"] == key


def test_data_too_small_for_an_evaluator_says_why_and_is_judged_in_pixels(cluster: Cluster) -> None:
    cluster.start_worker("w1")
    with TestClient(create_app(cluster.settings)) as client:
        upload(client, "few", {"circles": 60, "squares": 12})
        evaluation = train(client, cluster, {"dataset": "few", "name": "few-model"})["evaluation"]
        assert isinstance(evaluation, dict)
        assert evaluation["status"] == "done" and evaluation["frechet_distance"] is None
        assert evaluation["reason"] == (
            "no FD: an evaluator needs at least 50 images in every class: 'squares' has 12"
        )
        assert evaluation["memorization"]["space"] == "pixels"
        assert not (cluster.settings.cache_dir / "evaluators").exists()
