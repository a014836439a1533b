"""POST/GET/DELETE /datasets: safe uploads that are complete or absent."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.services.datasets.catalog import METADATA_FILE
from models.inference import encode_image
from tests.app.conftest import MakeClient
from tests.reliability.archives import member_offsets, png, png_claiming, tar_of

BOUNDARY = "test-boundary-1234"


def image_zip(classes: tuple[str, ...] = ("cats", "dogs"), per_class: int = 2) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, name in enumerate(classes):
            for item in range(per_class):
                pixels = np.full((8, 8, 3), 40 * index + item, dtype=np.uint8)
                archive.writestr(f"{name}/{item}.png", encode_image(pixels))
    return buffer.getvalue()


def multipart(payload: bytes, name: str) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{name}\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="d.zip"\r\n'
            f"Content-Type: application/zip\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def leftovers(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "datasets").iterdir())


def test_upload_lists_and_deletes_a_dataset(make_client: MakeClient, data_dir: Path) -> None:
    client = make_client()
    response = client.post(
        "/datasets", data={"name": "pets"}, files={"file": ("pets.zip", image_zip(), "application/zip")}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == "pets" and created["kind"] == "uploaded"
    assert created["images"] == 4 and created["class_names"] == ["cats", "dogs"]
    listing = {d["name"]: d for d in client.get("/datasets").json()}
    assert listing["pets"]["num_classes"] == 2
    assert listing["digits"] == {
        "name": "digits",
        "kind": "builtin",
        "image_size": 8,
        "channels": 1,
        "num_classes": 10,
        "class_names": [str(d) for d in range(10)],
        "images": None,
        "skipped": None,
        "created_at": None,
        "class_counts": None,
        "image_width": None,
        "image_height": None,
        "uniform_size": None,
        "skipped_reasons": None,
        "skipped_examples": None,
    }
    assert listing["cifar10"]["kind"] == "downloadable"
    assert leftovers(data_dir) == ["pets"]
    assert (data_dir / "datasets" / "pets" / "cats" / "0.png").is_file()

    # A labelled upload can train a conditional model; the name is now taken.
    train = client.post("/train", json={"dataset": "pets", "architecture": "cdcgan", "image_size": 16})
    assert train.status_code == 503  # valid config: only the (absent) queue refuses it
    again = client.post(
        "/datasets", data={"name": "pets"}, files={"file": ("pets.zip", image_zip(), "application/zip")}
    )
    assert again.status_code == 409
    assert client.delete("/datasets/digits").status_code == 403
    assert client.delete("/datasets/pets").status_code == 204
    assert client.delete("/datasets/pets").status_code == 404
    assert leftovers(data_dir) == []


@pytest.mark.parametrize(
    "payload,status,fragment",
    [
        (b"this is not an archive at all", 422, ""),
        (image_zip(classes=()), 422, "no images"),
    ],
)
def test_bad_archives_are_refused_and_leave_nothing(
    make_client: MakeClient, data_dir: Path, payload: bytes, status: int, fragment: str
) -> None:
    response = make_client().post("/datasets", data={"name": "bad"}, files={"file": ("bad.zip", payload)})
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]
    assert leftovers(data_dir) == []


def test_zip_slip_is_refused(make_client: MakeClient, data_dir: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escape.png", encode_image(np.zeros((8, 8, 3), np.uint8)))
    response = make_client().post(
        "/datasets", data={"name": "slip"}, files={"file": ("slip.zip", buffer.getvalue())}
    )
    assert response.status_code == 422
    assert leftovers(data_dir) == []
    assert not (data_dir / "escape.png").exists()


@pytest.mark.parametrize(
    "form,status",
    [
        ({"data": {"name": "../up"}}, 422),
        ({"data": {}}, 422),
        ({"data": {"name": "digits"}}, 409),
    ],
)
def test_names_are_checked(make_client: MakeClient, data_dir: Path, form: dict, status: int) -> None:
    response = make_client().post("/datasets", files={"file": ("d.zip", image_zip())}, **form)
    assert response.status_code == status
    assert leftovers(data_dir) == []


def test_missing_file_and_non_multipart_bodies(make_client: MakeClient, data_dir: Path) -> None:
    client = make_client()
    assert client.post("/datasets", data={"name": "x"}).status_code == 400
    assert client.post("/datasets", json={"name": "x"}).status_code == 400
    assert leftovers(data_dir) == []


def test_too_large_uploads_are_413(make_client: MakeClient, data_dir: Path) -> None:
    client = make_client(max_upload_bytes=4096)
    big = image_zip(per_class=40)
    assert len(big) > 4096
    body = multipart(big, "big")
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}

    declared = client.post("/datasets", content=body, headers=headers)
    assert declared.status_code == 413
    assert "limit" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while streaming
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    streamed = client.post("/datasets", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert streamed.json()["detail"] == "upload exceeds the limit of 4096 bytes"
    assert leftovers(data_dir) == []
    small = client.post("/datasets", content=multipart(image_zip(), "small"), headers=headers)
    assert small.status_code == 201


def test_stale_upload_folders_are_removed_at_startup(make_client: MakeClient, data_dir: Path) -> None:
    import os

    stale = data_dir / "datasets" / ".upload-crashed"
    fresh = data_dir / "datasets" / ".upload-in-progress"
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
    os.utime(stale, (0, 0))
    make_client()
    assert leftovers(data_dir) == [".upload-in-progress"]


def test_leftovers_of_a_dead_process_are_removed_at_startup_at_once(
    make_client: MakeClient, data_dir: Path
) -> None:
    import socket
    import subprocess
    import sys

    from common.holders import process_namespace

    # A process that has exited: its pid is free (until reused, which only delays cleanup).
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    ).stdout.strip()
    host, here = socket.gethostname(), process_namespace()
    datasets = data_dir / "datasets"
    orphan = datasets / f".upload-{'a' * 32}-{dead}-{here}-{host}"
    alive = datasets / f".upload-{'b' * 32}-1-{here}-{host}"  # pid 1 always runs
    elsewhere = datasets / f".upload-{'c' * 32}-{dead}-{here}-another-host"
    other_namespace = datasets / f".upload-{'d' * 32}-{dead}-0123456789ab.1-{host}"
    # Named before the namespace was recorded: judged by its age only.
    older_name = datasets / f".upload-{'e' * 32}-{dead}-{host}"
    for folder in (orphan, alive, elsewhere, other_namespace, older_name):
        (folder / "data").mkdir(parents=True)
    make_client()
    assert leftovers(data_dir) == sorted(p.name for p in (alive, elsewhere, other_namespace, older_name))


def test_a_temporary_folder_names_its_owner_as_the_lease_does(data_dir: Path) -> None:
    import subprocess

    from app.services.datasets.catalog import DatasetCatalog, _owner_is_gone

    catalog = DatasetCatalog(data_dir / "datasets")
    mine = catalog.temporary_folder()
    assert not _owner_is_gone(mine.name)
    # The same name with the pid of a process that has exited and been reaped.
    gone = subprocess.Popen(["true"])
    gone.wait()
    random_part, _pid, rest = mine.name.removeprefix(".upload-").split("-", 2)
    assert _owner_is_gone(f".upload-{random_part}-{gone.pid}-{rest}")


def test_the_upload_reports_what_its_images_are(make_client: MakeClient, data_dir: Path) -> None:
    client = make_client()
    members = {
        **{f"cats/{i}.png": png(i, size=12) for i in range(3)},
        "dogs/0.png": png(7, size=12),
        "dogs/fake.png": b"just text",
        "dogs/bomb.png": png_claiming(30_000, 30_000),
        "notes.txt": b"hello",
    }
    response = client.post("/datasets", data={"name": "pets"}, files={"file": ("p.tar", tar_of(members))})
    assert response.status_code == 201, response.text
    created = response.json()
    assert {key: created[key] for key in ("images", "skipped", "class_names", "class_counts")} == {
        "images": 4,
        "skipped": 3,
        "class_names": ["cats", "dogs"],
        "class_counts": {"cats": 3, "dogs": 1},
    }
    assert (created["image_width"], created["image_height"], created["uniform_size"]) == (12, 12, True)
    assert (created["image_size"], created["channels"]) == (12, 1)
    assert created["skipped_reasons"] == {"not an image": 2, "larger than 50000000 pixels": 1}
    assert created["skipped_examples"] == [
        {"name": "dogs/fake.png", "reason": "not an image"},
        {"name": "dogs/bomb.png", "reason": "larger than 50000000 pixels"},
        {"name": "notes.txt", "reason": "not an image"},
    ]
    listed = next(d for d in client.get("/datasets").json() if d["name"] == "pets")
    assert listed == created
    assert sorted(p.name for p in (data_dir / "datasets" / "pets" / "dogs").iterdir()) == ["0.png"]


def test_a_cut_tar_is_422_and_leaves_nothing(make_client: MakeClient, data_dir: Path) -> None:
    whole = tar_of({f"a/{i}.png": png(i) for i in range(3)})
    cut = whole[: member_offsets(whole)[1] + 200]  # inside the second member's header
    response = make_client().post("/datasets", data={"name": "cut"}, files={"file": ("c.tar", cut)})
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "truncated archive: it ends inside or before a member header"
    assert leftovers(data_dir) == []


def test_an_upload_without_a_readable_image_is_refused(make_client: MakeClient, data_dir: Path) -> None:
    fakes = tar_of({"a/1.png": b"text", "a/2.jpg": b"\xff\xd8\xff more text"})
    response = make_client().post("/datasets", data={"name": "fake"}, files={"file": ("f.tar", fakes)})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("archive contains no images (2 left out: ")
    assert leftovers(data_dir) == []


def test_records_written_before_the_image_checks_still_list(make_client: MakeClient, data_dir: Path) -> None:
    old = data_dir / "datasets" / "old"
    (old / "a").mkdir(parents=True)
    (old / "a" / "0.png").write_bytes(png())
    (old / METADATA_FILE).write_text('{"images": 1, "skipped": 0, "class_names": ["a"], "created_at": 1.0}')
    listed = next(d for d in make_client().get("/datasets").json() if d["name"] == "old")
    assert (listed["images"], listed["skipped"], listed["class_names"]) == (1, 0, ["a"])
    assert listed["class_counts"] is None and listed["image_size"] is None
