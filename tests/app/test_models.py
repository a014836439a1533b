"""GET /models, discovery without restart, broken checkpoints, and /readyz."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from safetensors import safe_open
from safetensors.torch import save_file

from models.inference import decode_png, encode_image
from models.training import run_files
from tests.app.conftest import MakeClient
from tests.app.tiny_models import write_tampered_model, write_tiny_model, write_truncated_model
from tests.support.problems import problem


class Tripwire:
    """Unpickling this creates ``marker``: proof that a file was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_listing_describes_models(make_client: MakeClient, data_dir: Path) -> None:
    write_tiny_model(data_dir / "models", "tiny", step=10, metrics={"quality": {"fid": 1.5}})
    write_tiny_model(data_dir / "models", "cond", architecture="cdcgan", num_classes=10)
    write_tiny_model(data_dir / "pretrained", "shipped", architecture="gan")
    client = make_client()
    listing = {model["name"]: model for model in client.get("/models").json()}
    assert set(listing) == {"tiny", "cond", "shipped"}
    tiny = listing["tiny"]
    assert tiny["default"] is True and listing["cond"]["default"] is False
    assert tiny["source"] == "trained" and listing["shipped"]["source"] == "pretrained"
    assert (tiny["architecture"], tiny["image_size"], tiny["channels"]) == ("dcgan", 8, 1)
    assert (tiny["latent_dim"], tiny["num_classes"]) == (8, 0)
    assert tiny["checkpoints"] == [10] and tiny["latest_step"] == 10
    assert tiny["quality"] == {"fid": 1.5}
    assert tiny["error"] is None and tiny["created_at"] > 0
    # digits is a builtin labelled dataset: its class names come with the model
    assert listing["cond"]["class_names"] == [str(d) for d in range(10)]
    assert client.get("/models/cond").json() == listing["cond"]
    assert client.get("/models/shipped").status_code == 200
    missing = problem(client.get("/models/nope"), 404)
    assert missing["type"] == "/problems/unknown-model"
    assert missing["detail"] == "unknown model 'nope'; available: cond, shipped, tiny (GET /models)"
    assert missing["available"] == ["cond", "shipped", "tiny"] and missing["available_count"] == 3
    assert client.get("/models/nope").status_code == 404
    assert client.get("/models/..%2Fjobs").status_code == 404


def test_models_come_a_page_at_a_time(make_client: MakeClient, data_dir: Path) -> None:
    names = [f"m{i}" for i in range(5)]
    for name in names:
        write_tiny_model(data_dir / "models", name)
    client = make_client(default_model="m0")
    first = client.get("/models?limit=2")
    assert [m["name"] for m in first.json()] == ["m0", "m1"]
    assert first.headers["X-Total-Count"] == "5"
    second = client.get(first.links["next"]["url"])
    assert [m["name"] for m in second.json()] == ["m2", "m3"]
    last = client.get(second.links["next"]["url"])
    assert [m["name"] for m in last.json()] == ["m4"] and "Link" not in last.headers
    assert [m["name"] for m in client.get("/models").json()] == names  # default page: 100
    assert client.get("/models?limit=5000").status_code == 422


def test_new_model_and_newer_checkpoint_appear_without_restart(
    make_client: MakeClient, data_dir: Path, tiny_model: Path
) -> None:
    client = make_client()
    assert [m["name"] for m in client.get("/models").json()] == ["tiny"]
    old = client.get("/sample", params={"seed": 1})
    assert old.headers["X-Model"] == "tiny@10"

    write_tiny_model(data_dir / "models", "later", step=5)
    assert [m["name"] for m in client.get("/models").json()] == ["later", "tiny"]
    assert client.get("/sample", params={"seed": 1, "model": "later"}).status_code == 200

    write_tiny_model(data_dir / "models", "tiny", step=20, seed=3)
    new = client.get("/sample", params={"seed": 1})
    assert new.headers["X-Model"] == "tiny@20"
    assert new.content != old.content
    assert client.get("/models/tiny").json()["checkpoints"] == [10, 20]
    pinned = client.get("/sample", params={"seed": 1, "model": "tiny@10"})
    assert pinned.content == old.content


def test_broken_checkpoints_are_reported_and_others_keep_serving(
    make_client: MakeClient, data_dir: Path, tiny_model: Path
) -> None:
    models_dir = data_dir / "models"
    # A pickle smuggled in under a checkpoint name: must never be unpickled, only reported.
    write_tiny_model(models_dir, "smuggled", step=10)
    smuggled = run_files.checkpoint_path(models_dir / "smuggled", 20)
    marker = data_dir / "unpickled"
    smuggled.write_bytes(pickle.dumps(Tripwire(marker)))
    # Weights altered after saving: the header is fine, the content hash is not.
    write_tampered_model(models_dir, flipped_bytes=4)
    # Cut short: the header says more bytes than the file has.
    write_truncated_model(models_dir, kept_bytes=200)

    client = make_client()
    listing = {m["name"]: m for m in client.get("/models").json()}
    assert listing["tiny"]["error"] is None
    assert "smuggled/checkpoints/step-00000020.safetensors" in listing["smuggled"]["error"]
    assert "not a readable safetensors file" in listing["smuggled"]["error"]
    assert listing["smuggled"]["broken_checkpoints"][0]["step"] == 20
    assert listing["truncated"]["error"] is not None
    assert str(data_dir) not in str(listing)  # server paths are not shown

    # The newest good checkpoint of a model with a broken newer one still serves.
    assert client.get("/sample", params={"seed": 1, "model": "smuggled"}).headers["X-Model"] == "smuggled@10"
    broken_pin = client.get("/sample", params={"seed": 1, "model": "smuggled@20"})
    assert broken_pin.status_code == 503
    assert "step-00000020" in broken_pin.json()["detail"]
    # Tampering shows once a load verifies the content hash; then it is listed too.
    failed = client.get("/sample", params={"seed": 1, "model": "tampered"})
    assert failed.status_code == 503
    assert "content hash mismatch" in failed.json()["detail"]
    assert "content hash mismatch" in client.get("/models/tampered").json()["error"]
    assert str(data_dir) not in failed.json()["detail"]
    assert client.get("/sample", params={"seed": 1}).status_code == 200

    assert not marker.exists()  # the pickle was never loaded
    ready = client.get("/readyz").json()
    assert any(entry.startswith("smuggled: ") for entry in ready["broken_models"])
    assert any(entry.startswith("tampered: ") for entry in ready["broken_models"])


def test_readyz_names_a_broken_default_model(make_client: MakeClient, data_dir: Path) -> None:
    path = write_tiny_model(data_dir / "models", "tiny", step=10)
    path.write_bytes(b"\x80\x04not a checkpoint")
    response = make_client().get("/readyz")
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "default model cannot be loaded" in detail
    assert "tiny/checkpoints/step-00000010.safetensors" in detail


def test_readyz_without_any_model_explains(make_client: MakeClient) -> None:
    response = make_client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("no model available yet: train one with POST /train")
    assert response.json()["checks"]["default_model"] is None


def test_checkpoint_detail_and_timeline_sample(client: TestClient, data_dir: Path) -> None:
    detail = client.get("/models/tiny/checkpoints/10").json()
    assert detail["step"] == 10 and detail["kind"] == "generator"
    assert detail["model_config"]["architecture"] == "dcgan"
    assert len(detail["content_sha256"]) == 64
    assert "path" not in detail
    assert client.get("/models/tiny/checkpoints/11").status_code == 404

    grid = np.full((8, 16, 1), 200, dtype=np.uint8)
    run_dir = data_dir / "models" / "tiny"
    run_files.samples_dir(run_dir).mkdir()
    run_files.sample_path(run_dir, 10).write_bytes(encode_image(grid))
    response = client.get("/models/tiny/samples/10")
    assert response.status_code == 200
    assert np.array_equal(decode_png(response.content), grid)
    assert client.get("/models/tiny").json()["samples"] == [10]
    assert client.get("/models/tiny/samples/20").status_code == 404


def test_model_cache_is_bounded(make_client: MakeClient, data_dir: Path) -> None:
    for name in ("one", "two", "three"):
        write_tiny_model(data_dir / "models", name)
    client = make_client(model_cache_size=2, default_model="one")
    for name in ("one", "two", "three", "one"):
        assert client.get("/sample", params={"seed": 1, "model": name}).status_code == 200
    loaded = client.app.state.runtime.registry.loaded_models()
    assert sorted(model.ref for model in loaded) == ["one@10", "three@10"]


def test_a_tampered_newest_checkpoint_is_listed_before_anything_loads_it(
    make_client: MakeClient, data_dir: Path, tiny_model: Path, redis_url: str
) -> None:
    # Found by the reliability pass: only a load compared the content hash, so GET /models and
    # /readyz called a tampered model healthy until some request tried to sample from it.
    write_tampered_model(data_dir / "models", flipped_bytes=1)
    client = make_client(redis_url=redis_url)
    listing = {m["name"]: m for m in client.get("/models").json()}
    assert "content hash mismatch" in listing["tampered"]["error"]
    assert listing["tiny"]["error"] is None
    ready = client.get("/readyz")
    assert ready.status_code == 200  # the default model serves
    assert any(entry.startswith("tampered: ") for entry in ready.json()["broken_models"])
    assert "tampered: " in ready.json()["detail"]


def test_a_checkpoint_whose_header_no_longer_fits_its_tensors_is_listed_broken_at_once(
    make_client: MakeClient, data_dir: Path
) -> None:
    # The header edited after saving (latent_dim 8 -> 9), the tensors and their hash untouched:
    # loading would fail, and the listing says so before anyone samples.
    good = write_tiny_model(data_dir / "models", "edited", step=10)
    write_tiny_model(data_dir / "models", "edited", step=20)
    newest = good.with_name("step-00000020.safetensors")
    with safe_open(str(newest), framework="pt") as handle:
        header = json.loads((handle.metadata() or {})["ganserve"])
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    header["model_config"]["latent_dim"] += 1
    save_file(tensors, str(newest), metadata={"ganserve": json.dumps(header, sort_keys=True)})

    client = make_client(default_model="edited")
    card = client.get("/models/edited").json()
    assert "weights do not match the recorded config" in card["error"], card
    assert "generator.net.0" in card["error"] or "generator." in card["error"]
    # Serving falls back to the last good checkpoint.
    assert client.get("/sample", params={"seed": 1, "model": "edited"}).headers["X-Model"] == "edited@10"
