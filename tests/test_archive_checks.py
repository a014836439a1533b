"""An upload tells the truth when it is unpacked: cut archives are refused, every image is checked
(header, size, structure) in the same pass, and the report is what training will see."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from app.services.datasets.archives import ArchiveError, ExtractionReport, extract_archive
from app.services.datasets.catalog import METADATA_FILE, DatasetCatalog
from models.data.folder import load_folder
from models.data.image_files import MAX_DECODE_PIXELS
from tests.reliability.archives import (
    encoded_image,
    labelled_images,
    member_offsets,
    png,
    png_claiming,
    tar_of,
)

MB = 1024 * 1024
TOO_LARGE = f"larger than {MAX_DECODE_PIXELS} pixels"


def extract(upload: Path, destination: Path) -> ExtractionReport:
    return extract_archive(upload, destination, max_unpacked_bytes=100 * MB, max_members=1000)


def files_under(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def image_bytes(mode: str, size: tuple[int, int], image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 90).save(buffer, format=image_format)
    return buffer.getvalue()


FULL_TAR = tar_of(labelled_images(4))
OFFSETS = member_offsets(FULL_TAR)
CUT_TARS = {
    "inside-a-member-header": FULL_TAR[: OFFSETS[2] + 100],
    "at-a-member-boundary": FULL_TAR[: OFFSETS[2]],  # no end-of-archive blocks
    "gzipped-inside-a-header": gzip.compress(FULL_TAR[: OFFSETS[3] + 300]),
}


@pytest.mark.parametrize("cut", list(CUT_TARS))
def test_a_tar_cut_short_is_refused_and_leaves_nothing(tmp_path: Path, cut: str) -> None:
    upload = tmp_path / "cut.tar"
    upload.write_bytes(CUT_TARS[cut])
    with pytest.raises(ArchiveError, match="truncated archive"):
        extract(upload, tmp_path / "out")
    assert files_under(tmp_path / "out") == []


def test_the_whole_tar_and_a_cut_zip_for_comparison(tmp_path: Path) -> None:
    whole = tmp_path / "whole.tar"
    whole.write_bytes(FULL_TAR)
    assert extract(whole, tmp_path / "out").images == 4
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in labelled_images(4).items():
            archive.writestr(name, data)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(buffer.getvalue()[:-40])  # the central directory is gone
    with pytest.raises(ArchiveError, match="corrupt"):
        extract(cut, tmp_path / "out-zip")


MIXED = {
    "cats/a.png": image_bytes("L", (16, 16)),
    "cats/b.png": image_bytes("L", (16, 16)),
    "cats/c.jpg": image_bytes("RGB", (16, 16), "JPEG"),
    "dogs/d.png": image_bytes("L", (24, 16)),
    "dogs/notes.png": b"a text file with an image's name",
    "dogs/bomb.png": png_claiming(30_000, 30_000),  # past Pillow's own bomb limit
    "dogs/huge.png": png_claiming(8_000, 8_000),  # under Pillow's, over the loader's
    "dogs/cut.png": image_bytes("L", (16, 16))[:-30],
    "dogs/cut.jpg": encoded_image("JPEG", size=32)[:-40],
    "dogs/cut.bmp": encoded_image("BMP", size=32)[:-40],
    "birds/only.png": b"\x89PNG\r\n\x1a\n not really",
    "loose.png": image_bytes("L", (16, 16)),
    "readme.txt": b"hello",
}


def test_every_image_is_checked_and_the_report_says_why_files_were_left_out(tmp_path: Path) -> None:
    upload = tmp_path / "mixed.tar"
    upload.write_bytes(tar_of(MIXED))
    destination = tmp_path / "out"

    report = extract(upload, destination)

    assert report.images == 4
    assert report.classes == ["cats", "dogs"]
    assert report.class_counts == {"cats": 3, "dogs": 1}
    assert (report.image_width, report.image_height, report.uniform_size) == (16, 16, False)
    assert report.channels == 3  # one colour JPEG among grayscale PNGs
    assert report.skipped == 9
    assert report.skipped_reasons == {
        "not an image": 3,
        TOO_LARGE: 2,
        "truncated or corrupt": 3,
        "not in a class folder": 1,
    }
    examples = report.skipped_examples
    assert len(examples) == 5
    assert {"name": "dogs/notes.png", "reason": "not an image"} in examples
    assert {"name": "dogs/bomb.png", "reason": TOO_LARGE} in examples
    assert all(
        not example["name"].startswith("/") and str(tmp_path) not in example["name"] for example in examples
    )
    # Only what training can use is kept; a class folder whose files all went is gone too.
    assert files_under(destination) == ["cats/a.png", "cats/b.png", "cats/c.jpg", "dogs/d.png"]


def test_the_record_matches_what_training_loads(tmp_path: Path) -> None:
    upload = tmp_path / "mixed.tar"
    upload.write_bytes(tar_of(MIXED))
    catalog = DatasetCatalog(tmp_path / "datasets")
    info = catalog.install(
        upload, "mixed", catalog.temporary_folder(), max_unpacked_bytes=100 * MB, max_members=1000
    )
    images, labels, class_names, skipped = load_folder(tmp_path / "datasets" / "mixed", 16, 1, None, 0)
    assert (len(images), list(class_names), skipped) == (info["images"], info["class_names"], 0)
    assert labels is not None and labels.bincount().tolist() == list(info["class_counts"].values())
    stored = json.loads((tmp_path / "datasets" / "mixed" / METADATA_FILE).read_text())
    assert stored["skipped_reasons"] == info["skipped_reasons"] and stored["uniform_size"] is False


def test_one_size_and_grayscale_give_a_native_format(tmp_path: Path) -> None:
    upload = tmp_path / "flat.tar"
    upload.write_bytes(tar_of({f"{i}.png": png(i, size=12) for i in range(3)}))
    catalog = DatasetCatalog(tmp_path / "datasets")
    info = catalog.install(upload, "flat", catalog.temporary_folder(), max_unpacked_bytes=MB, max_members=10)
    assert (info["image_size"], info["channels"], info["uniform_size"]) == (12, 1, True)
    assert (info["images"], info["skipped"], info["class_counts"], info["class_names"]) == (3, 0, {}, [])


def test_an_archive_without_a_readable_image_is_refused_with_the_reasons(tmp_path: Path) -> None:
    upload = tmp_path / "fake.tar"
    upload.write_bytes(tar_of({"a/x.png": b"text", "a/bomb.png": png_claiming(30_000, 30_000)}))
    with pytest.raises(ArchiveError) as refused:
        extract(upload, tmp_path / "out")
    assert str(refused.value) == (
        f"archive contains no images (2 left out: 1 not an image, 1 {TOO_LARGE}; "
        "e.g. 'a/x.png': not an image)"
    )
    assert files_under(tmp_path / "out") == []


def test_a_name_given_twice_is_refused_even_when_the_first_copy_was_unreadable(tmp_path: Path) -> None:
    upload = tmp_path / "twice.tar"
    with io.BytesIO() as buffer:
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for data in (b"not an image", png(3)):
                info = tarfile.TarInfo("a/x.png")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        upload.write_bytes(buffer.getvalue())
    with pytest.raises(ArchiveError, match="appears twice"):
        extract(upload, tmp_path / "out")
