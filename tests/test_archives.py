"""Uploaded archives: real zip/tar files built in tmp_path, hostile ones included."""

from __future__ import annotations

import io
import stat
import struct
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest

from app.services.datasets import archives, writer
from app.services.datasets.archives import ArchiveError, extract_archive
from tests.reliability.archives import encoded_image, png

MB = 1024 * 1024
PNG = png(1)
LAYOUT = {
    "cats/a.png": PNG,
    "dogs/b.JPG": encoded_image("JPEG"),
    "dogs/puppies/c.png": PNG,
    "notes.txt": b"skipped",
    "cats/inner.zip": b"PK\x03\x04 a nested archive is just a skipped file",
    "__MACOSX/cats/._a.png": b"resource fork",
    ".DS_Store": b"finder",
    "cats/.hidden.png": PNG,
}


def make_zip(path: Path, members: dict[str, bytes], level: int = 6) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def make_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def extract(upload: Path, destination: Path, **limits: int) -> archives.ExtractionReport:
    return extract_archive(
        upload,
        destination,
        max_unpacked_bytes=limits.get("max_unpacked_bytes", 100 * MB),
        max_members=limits.get("max_members", 1000),
    )


@pytest.mark.parametrize("kind", ["zip", "tar.gz", "tar"])
def test_valid_archive_with_class_folders(tmp_path: Path, kind: str) -> None:
    # A misleading name: the type comes from the magic bytes.
    upload = tmp_path / "upload.bin"
    if kind == "zip":
        make_zip(upload, LAYOUT)
    else:
        make_tar(upload, LAYOUT, "w:gz" if kind == "tar.gz" else "w")
    destination = tmp_path / "out"

    report = extract(upload, destination)

    assert report.images == 3
    assert report.skipped == 2  # notes.txt and the nested archive; dotfiles/__MACOSX ignored
    assert report.classes == ["cats", "dogs"]
    written = [p.relative_to(destination).as_posix() for p in files_under(destination)]
    assert written == ["cats/a.png", "dogs/b.JPG", "dogs/puppies/c.png"]
    assert (destination / "dogs/puppies/c.png").read_bytes() == PNG


def test_images_at_the_root_have_no_classes(tmp_path: Path) -> None:
    upload = make_zip(tmp_path / "flat.zip", {"a.png": PNG, "b.gif": encoded_image("GIF")})
    report = extract(upload, tmp_path / "out")
    assert (report.images, report.skipped, report.classes) == (2, 0, [])


@pytest.mark.parametrize(
    "name", ["../evil.png", "cats/../../evil.png", "/tmp/evil.png", "..\\evil.png", "C:/evil.png"]
)
def test_escaping_paths_reject_the_whole_archive(tmp_path: Path, name: str) -> None:
    upload = make_zip(tmp_path / "slip.zip", {"cats/ok.png": PNG, name: PNG})
    destination = tmp_path / "deep" / "out"
    with pytest.raises(ArchiveError, match=r"absolute path|outside the archive"):
        extract(upload, destination)
    # Nothing was written anywhere: not the good member, not the evil one.
    assert files_under(tmp_path) == [upload]


def test_tar_slip_is_rejected(tmp_path: Path) -> None:
    upload = make_tar(tmp_path / "slip.tgz", {"cats/ok.png": PNG, "../evil.png": PNG})
    with pytest.raises(ArchiveError, match="outside the archive"):
        extract(upload, tmp_path / "out")
    assert files_under(tmp_path) == [upload]


@pytest.mark.parametrize("link_type", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_tar_links_are_rejected(tmp_path: Path, link_type: bytes) -> None:
    upload = tmp_path / "links.tar"
    with tarfile.open(upload, "w") as archive:
        info = tarfile.TarInfo("cats/passwd.png")
        info.type = link_type
        info.linkname = "/etc/passwd"
        archive.addfile(info)
    with pytest.raises(ArchiveError, match="is a link"):
        extract(upload, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tar_devices_are_rejected(tmp_path: Path) -> None:
    upload = tmp_path / "device.tar"
    with tarfile.open(upload, "w") as archive:
        info = tarfile.TarInfo("cats/null.png")
        info.type = tarfile.CHRTYPE
        archive.addfile(info)
    with pytest.raises(ArchiveError, match="special file"):
        extract(upload, tmp_path / "out")


def test_zip_symlink_entry_is_rejected(tmp_path: Path) -> None:
    upload = tmp_path / "link.zip"
    with zipfile.ZipFile(upload, "w") as archive:
        archive.writestr("cats/a.png", PNG)
        info = zipfile.ZipInfo("cats/passwd.png")
        info.create_system = 3  # Unix, so external_attr carries the mode
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(ArchiveError, match="symlink"):
        extract(upload, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_bomb_over_the_size_limit_is_rejected(tmp_path: Path) -> None:
    upload = make_zip(tmp_path / "bomb.zip", {"a.png": bytes(50 * MB)}, level=9)
    assert upload.stat().st_size < MB
    with pytest.raises(ArchiveError, match="more than"):
        extract(upload, tmp_path / "out", max_unpacked_bytes=10 * MB)
    assert files_under(tmp_path / "out") == []


def test_zip_bomb_under_the_size_limit_is_rejected_by_ratio(tmp_path: Path) -> None:
    upload = make_zip(tmp_path / "bomb.zip", {"a.png": bytes(50 * MB)}, level=9)
    with pytest.raises(ArchiveError, match="compression ratio"):
        extract(upload, tmp_path / "out", max_unpacked_bytes=200 * MB)
    assert files_under(tmp_path / "out") == []


def lie_about_sizes(path: Path, declared: int) -> None:
    """Rewrite every uncompressed-size field (local and central headers) to ``declared``."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = data.find(signature)
        while start >= 0:
            struct.pack_into("<I", data, start + offset, declared)
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))


def test_zip_whose_headers_understate_the_size_is_rejected(tmp_path: Path) -> None:
    upload = make_zip(tmp_path / "liar.zip", {"b.png": bytes(50 * MB)}, level=9)
    lie_about_sizes(upload, 1000)
    with zipfile.ZipFile(upload) as archive:
        assert archive.infolist()[0].file_size == 1000  # the lie passes the declared checks
    with pytest.raises(ArchiveError, match="corrupt"):
        extract(upload, tmp_path / "out", max_unpacked_bytes=10 * MB)
    assert files_under(tmp_path / "out") == []


def test_bytes_are_counted_while_streaming(tmp_path: Path) -> None:
    """The last line of defence: a decompressor yielding more than any header declared."""
    budget = writer.Writer(tmp_path, max_bytes=10 * MB)
    with (tmp_path / "a.png").open("wb") as output, pytest.raises(ArchiveError, match="limit"):
        writer.copy_limited(io.BytesIO(bytes(11 * MB)), output, budget)
    assert (tmp_path / "a.png").stat().st_size <= 10 * MB


def test_budget_is_shared_across_members(tmp_path: Path) -> None:
    # 3 x 400 kB: each member is fine alone, together they exceed 1 MB.
    upload = make_tar(tmp_path / "many.tar", {f"c/{i}.png": bytes(400_000) for i in range(3)}, "w")
    with pytest.raises(ArchiveError, match="more than"):
        extract(upload, tmp_path / "out", max_unpacked_bytes=MB)
    assert files_under(tmp_path / "out") == []


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_too_many_members(tmp_path: Path, kind: str) -> None:
    members = {f"cats/{i}.png": PNG for i in range(11)}
    upload = tmp_path / "many"
    make_zip(upload, members) if kind == "zip" else make_tar(upload, members)
    with pytest.raises(ArchiveError, match="more than 10 members"):
        extract(upload, tmp_path / "out", max_members=10)
    assert files_under(tmp_path / "out") == []


@pytest.mark.parametrize("content", [b"just some text, not an archive", PNG, b""])
def test_non_archive_bytes(tmp_path: Path, content: bytes) -> None:
    upload = tmp_path / "data.zip"
    upload.write_bytes(content)
    with pytest.raises(ArchiveError, match="not an archive"):
        extract(upload, tmp_path / "out")


def test_truncated_archive_is_reported_as_corrupt(tmp_path: Path) -> None:
    upload = make_tar(tmp_path / "cut.tgz", {f"c/{i}.png": bytes(range(256)) * 400 for i in range(5)})
    upload.write_bytes(upload.read_bytes()[:2000])
    with pytest.raises(ArchiveError, match="corrupt"):
        extract(upload, tmp_path / "out")
    assert files_under(tmp_path / "out") == []


def test_archive_without_images(tmp_path: Path) -> None:
    upload = make_zip(tmp_path / "docs.zip", {"readme.txt": b"hi", ".hidden.png": PNG})
    with pytest.raises(ArchiveError, match="archive contains no images"):
        extract(upload, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_duplicate_names_are_rejected(tmp_path: Path) -> None:
    upload = tmp_path / "dup.zip"
    with warnings.catch_warnings(), zipfile.ZipFile(upload, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate we want
        archive.writestr("cats/a.png", PNG)
        archive.writestr("cats/a.png", b"second copy")
    with pytest.raises(ArchiveError, match="appears twice"):
        extract(upload, tmp_path / "out")
    assert files_under(tmp_path / "out") == []


def test_existing_destination_is_kept_on_error(tmp_path: Path) -> None:
    destination = tmp_path / "out"
    destination.mkdir()
    (destination / "keep.txt").write_text("the caller's")
    upload = make_zip(tmp_path / "bad.zip", {"cats/a.png": PNG, "../x.png": PNG})
    with pytest.raises(ArchiveError):
        extract(upload, destination)
    assert files_under(destination) == [destination / "keep.txt"]
