"""GET/POST /sample and GET /interpolate: determinism, layout, caching and validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from models.inference import MAX_SEED, decode_png
from tests.app.conftest import MakeClient
from tests.app.tiny_models import write_tiny_model
from tests.support.problems import fields_of, problem


def image(response) -> np.ndarray:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return decode_png(response.content)


def tiles(strip: np.ndarray, size: int = 8) -> list[np.ndarray]:
    return [strip[:, i * size : (i + 1) * size] for i in range(strip.shape[1] // size)]


def test_seeded_png_is_identical_across_requests_and_app_instances(
    make_client: MakeClient, tiny_model: Path
) -> None:
    first = make_client().get("/sample", params={"seed": 42})
    again = make_client().get("/sample", params={"seed": 42})
    other_seed = make_client().get("/sample", params={"seed": 43})
    assert first.status_code == 200
    assert first.content == again.content
    assert first.content != other_seed.content
    assert image(first).shape == (8, 8, 1)


def test_grid_tile_i_is_the_image_of_seed_plus_i(client: TestClient) -> None:
    grid = image(client.get("/sample", params={"seed": 7, "count": 6, "columns": 3}))
    assert grid.shape == (16, 24, 1)
    for index in range(6):
        row, column = divmod(index, 3)
        tile = grid[row * 8 : (row + 1) * 8, column * 8 : (column + 1) * 8]
        single = image(client.get("/sample", params={"seed": 7 + index}))
        assert np.array_equal(tile, single), f"tile {index}"


@pytest.mark.parametrize("mode", ["slerp", "lerp"])
@pytest.mark.parametrize("truncation", [None, 0.7])
def test_interpolation_ends_equal_the_seed_images(
    client: TestClient, mode: str, truncation: float | None
) -> None:
    options = {} if truncation is None else {"truncation": truncation}
    response = client.get("/interpolate", params={"start": 1, "end": 2, "steps": 5, "mode": mode, **options})
    frames = tiles(image(response))
    assert response.headers["X-Frame-Count"] == "5"
    assert response.headers["X-Frame-Width"] == "8"
    assert response.headers["X-Frame-Height"] == "8"
    assert len(frames) == 5
    assert np.array_equal(frames[0], image(client.get("/sample", params={"seed": 1, **options})))
    assert np.array_equal(frames[-1], image(client.get("/sample", params={"seed": 2, **options})))
    assert not np.array_equal(frames[0], frames[2])


def test_truncation_changes_the_image(client: TestClient) -> None:
    plain = client.get("/sample", params={"seed": 3}).content
    truncated = client.get("/sample", params={"seed": 3, "truncation": 0.3}).content
    assert plain != truncated


@pytest.fixture
def conditional(make_client: MakeClient, data_dir: Path) -> TestClient:
    write_tiny_model(data_dir / "models", "cond", architecture="cdcgan", num_classes=3)
    return make_client(default_model="cond")


def test_conditional_default_label_is_seed_mod_classes(conditional: TestClient) -> None:
    for seed in (4, 5):
        default = conditional.get("/sample", params={"seed": seed}).content
        explicit = conditional.get("/sample", params={"seed": seed, "label": seed % 3}).content
        other = conditional.get("/sample", params={"seed": seed, "label": (seed + 1) % 3}).content
        assert default == explicit
        assert default != other
    grid = image(conditional.get("/sample", params={"seed": 4, "count": 3, "columns": 3}))
    for index, tile in enumerate(tiles(grid)):
        single = conditional.get("/sample", params={"seed": 4 + index, "label": (4 + index) % 3})
        assert np.array_equal(tile, image(single))


def test_conditional_label_out_of_range_is_422(conditional: TestClient) -> None:
    response = conditional.get("/sample", params={"seed": 1, "label": 3})
    assert response.status_code == 422
    assert response.json()["detail"] == "label must be in 0..2, got 3"


@pytest.mark.parametrize("label", [None, 2])
def test_conditional_interpolation_ends_match(conditional: TestClient, label: int | None) -> None:
    options = {} if label is None else {"label": label}
    strip = image(
        conditional.get(
            "/interpolate", params={"start": 4, "end": 8, "steps": 4, "truncation": 0.8, **options}
        )
    )
    frames = tiles(strip)
    start = conditional.get("/sample", params={"seed": 4, "truncation": 0.8, **options})
    end = conditional.get("/sample", params={"seed": 8, "truncation": 0.8, **options})
    assert np.array_equal(frames[0], image(start))
    assert np.array_equal(frames[-1], image(end))


def test_unconditional_model_refuses_a_label(client: TestClient) -> None:
    response = client.get("/sample", params={"seed": 1, "label": 0})
    assert response.status_code == 422
    assert "unconditional" in response.json()["detail"]
    assert client.get("/interpolate", params={"start": 1, "end": 2, "label": 0}).status_code == 422


def test_etag_304_and_cache_control(client: TestClient) -> None:
    floating = client.get("/sample", params={"seed": 5})
    pinned = client.get("/sample", params={"seed": 5, "model": "tiny@10"})
    assert floating.headers["Cache-Control"] == "no-cache"
    assert pinned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert floating.content == pinned.content
    etag = floating.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert client.get("/sample", params={"seed": 6}).headers["ETag"] != etag
    assert client.get("/sample", params={"seed": 5, "format": "webp"}).headers["ETag"] != etag

    cached = client.get("/sample", params={"seed": 5}, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["ETag"] == etag
    stale = client.get("/sample", params={"seed": 5}, headers={"If-None-Match": '"nope"'})
    assert stale.status_code == 200
    strip = client.get("/interpolate", params={"start": 1, "end": 2, "model": "tiny@10"})
    assert strip.headers["Cache-Control"].endswith("immutable")
    again = client.get(
        "/interpolate",
        params={"start": 1, "end": 2, "model": "tiny@10"},
        headers={"If-None-Match": strip.headers["ETag"]},
    )
    assert again.status_code == 304


def test_etag_follows_the_checkpoint_content(
    make_client: MakeClient, data_dir: Path, tiny_model: Path
) -> None:
    client = make_client()
    before = client.get("/sample", params={"seed": 5}).headers["ETag"]
    write_tiny_model(data_dir / "models", "tiny", step=10, seed=1)  # same step, new weights
    after = client.get("/sample", params={"seed": 5})
    assert after.headers["ETag"] != before


@pytest.mark.parametrize("image_format,media_type", [("webp", "image/webp"), ("jpeg", "image/jpeg")])
def test_other_formats(client: TestClient, image_format: str, media_type: str) -> None:
    response = client.get("/sample", params={"seed": 1, "format": image_format})
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type


@pytest.mark.parametrize(
    "params",
    [
        {"seed": -1},
        {"seed": MAX_SEED + 1},
        {"seed": "abc"},
        {"seed": MAX_SEED, "count": 2},
        {"seed": 1, "count": 0},
        {"seed": 1, "count": 65},
        {"seed": 1, "truncation": 0.01},
        {"seed": 1, "truncation": "inf"},
        {"seed": 1, "truncation": "nan"},
        {"seed": 1, "format": "gif"},
        {"seed": 1, "columns": 0},
        {"seed": 1, "model": "../etc"},
    ],
)
def test_invalid_sample_parameters_are_422(client: TestClient, params: dict) -> None:
    response = client.get("/sample", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_largest_seed_is_accepted(client: TestClient) -> None:
    assert client.get("/sample", params={"seed": MAX_SEED}).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"start": 1, "end": 2, "steps": 1},
        {"start": 1, "end": 2, "steps": 65},
        {"start": 1, "end": MAX_SEED + 1},
        {"start": 1},
        {"start": 1, "end": 2, "mode": "cubic"},
    ],
)
def test_invalid_interpolation_parameters_are_422(client: TestClient, params: dict) -> None:
    assert client.get("/interpolate", params=params).status_code == 422


def test_unknown_model_is_404(client: TestClient) -> None:
    response = client.get("/sample", params={"seed": 1, "model": "nope"})
    assert response.status_code == 404
    body = problem(response, 404)
    assert body["type"] == "/problems/unknown-model"
    assert body["detail"] == "unknown model 'nope'; available: tiny (GET /models)"
    assert body["available"] == ["tiny"] and body["available_count"] == 1
    missing_step = client.get("/sample", params={"seed": 1, "model": "tiny@99"})
    assert missing_step.status_code == 404
    assert client.post("/sample", json={"latents": [[0.0] * 8], "model": "nope"}).status_code == 404


def test_post_sample_renders_latents_like_seeds(client: TestClient) -> None:
    from models.inference import latent_for_seed

    vectors = [latent_for_seed(seed, 8).tolist() for seed in (3, 4)]
    response = client.post("/sample", json={"latents": vectors, "columns": 2})
    grid = image(response)
    assert np.array_equal(grid[:, :8], image(client.get("/sample", params={"seed": 3})))
    assert np.array_equal(grid[:, 8:], image(client.get("/sample", params={"seed": 4})))


@pytest.mark.parametrize(
    "body,fragment",
    [
        ('{"latents": [[0, 0, 0]]}', "length 3"),
        ('{"latents": [[NaN, 0, 0, 0, 0, 0, 0, 0]]}', "finite"),
        ('{"latents": [[Infinity, 0, 0, 0, 0, 0, 0, 0]]}', "finite"),
        ('{"latents": [[-Infinity, 0, 0, 0, 0, 0, 0, 0]]}', "finite"),
        ('{"latents": [[1e39, 0, 0, 0, 0, 0, 0, 0]]}', "finite"),
        ('{"latents": []}', "at least 1"),
        ('{"latents": [[0, 0, 0, 0, 0, 0, 0, 0]], "labels": [0]}', "unconditional"),
        ('{"latents": [[0, 0, 0, 0, 0, 0, 0, 0]], "surprise": 1}', "Extra inputs"),
        ('{"latents": "no"}', "valid list"),
        ('{"latents": [[0', "JSON"),
    ],
)
def test_post_sample_validation(client: TestClient, body: str, fragment: str) -> None:
    response = client.post("/sample", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert fragment in json.dumps(response.json()["detail"])


def test_post_sample_too_many_vectors(client: TestClient) -> None:
    response = client.post("/sample", json={"latents": [[0.0] * 8] * 65})
    assert response.status_code == 422
    assert response.json()["detail"] == "latents takes at most 64 items on this server, got 65"
    assert fields_of(response) == {"latents"}


def test_post_sample_labels_for_conditional(conditional: TestClient) -> None:
    vectors = [[0.1] * 8, [0.2] * 8]
    default = conditional.post("/sample", json={"latents": vectors})
    explicit = conditional.post("/sample", json={"latents": vectors, "labels": [0, 1]})
    assert default.status_code == 200 and default.content == explicit.content
    wrong_count = conditional.post("/sample", json={"latents": vectors, "labels": [0]})
    assert wrong_count.status_code == 422
