"""Hostile names and refs are refused wherever they enter the API: JSON, form and query."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from tests.app.conftest import MakeClient
from tests.app.test_datasets import image_zip
from tests.app.tiny_models import write_tiny_model


@pytest.mark.parametrize("name", ["x\n", "\u0661\u0667", "ok\r"])
def test_hostile_names_are_422_everywhere_they_enter(
    make_client: MakeClient, data_dir: Path, name: str
) -> None:
    write_tiny_model(data_dir / "models", "tiny", step=10)
    client = make_client(default_model="tiny")
    trained = client.post("/train", json={"dataset": "digits", "name": name})
    assert trained.status_code == 422, trained.text
    uploaded = client.post("/datasets", data={"name": name}, files={"file": ("d.zip", image_zip())})
    assert uploaded.status_code == 422, uploaded.text
    assert client.get("/sample", params={"model": name}).status_code == 422
    assert not (data_dir / "datasets").exists() or list((data_dir / "datasets").iterdir()) == []


@pytest.mark.parametrize("ref", ["tiny@\u0661\u0660", "tiny@10\n", "tiny\n"])
def test_a_model_ref_with_unicode_digits_or_a_newline_is_refused(
    make_client: MakeClient, data_dir: Path, ref: str
) -> None:
    write_tiny_model(data_dir / "models", "tiny", step=10)
    client = make_client(default_model="tiny")
    assert client.get("/sample", params={"model": "tiny@10"}).status_code == 200
    assert client.get("/sample", params={"model": ref}).status_code == 422


def test_a_class_folder_with_a_control_character_is_refused(make_client: MakeClient, data_dir: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, zipfile.ZipFile(io.BytesIO(image_zip())) as good:
        for member in good.namelist():
            archive.writestr(member.replace("cats", "ca\nts"), good.read(member))
    response = make_client().post(
        "/datasets", data={"name": "ctl"}, files={"file": ("c.zip", buffer.getvalue())}
    )
    assert response.status_code == 422
    assert "control character" in response.json()["detail"]
    # Printable Unicode folder names are fine: they become the class names.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, zipfile.ZipFile(io.BytesIO(image_zip())) as good:
        for member in good.namelist():
            archive.writestr(member.replace("cats", "\u732b"), good.read(member))
    response = make_client().post(
        "/datasets", data={"name": "uni"}, files={"file": ("u.zip", buffer.getvalue())}
    )
    assert response.status_code == 201, response.text
