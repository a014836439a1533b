"""MNIST, Fashion-MNIST and CIFAR-10, fetched on request into a cache folder.

Only the training splits are used (60,000 / 60,000 / 50,000 images). Files are read in
their published formats: gzipped IDX for the MNISTs and the *binary* CIFAR-10 archive
(fixed 3,073-byte records), never the python version, which would need unpickling.

Checksums are the MD5s the dataset authors publish (CIFAR-10's page lists them;
Fashion-MNIST's README; MNIST's are the ones torchvision has used for years). They are
checked on download, before the file is moved into place; cached files are only checked
structurally (IDX magic numbers and sizes, CIFAR record length) when parsed.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import tarfile
import tempfile
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

import numpy as np
import torch

from models.data.builtin import DIGIT_NAMES
from models.data.dataset import DatasetError

DEFAULT_CACHE_DIR = Path("~/.cache/ganserve/datasets")
_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name in the cache, mirror URLs (tried in order), MD5."""

    name: str
    urls: tuple[str, ...]
    md5: str


def _mirrored(name: str, md5: str, *bases: str) -> RemoteFile:
    return RemoteFile(name, tuple(base + name for base in bases), md5)


# yann.lecun.com often refuses downloads now, so PyTorch's mirror comes first.
_MNIST = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_FASHION = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
SOURCES: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": (
        _mirrored("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", *_MNIST),
        _mirrored("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", *_MNIST),
    ),
    "fashion-mnist": (
        _mirrored("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", *_FASHION),
        _mirrored("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", *_FASHION),
    ),
    "cifar10": (
        _mirrored(
            "cifar-10-binary.tar.gz",
            "c32a1d4ab5d03f1284b67883e8d87530",
            "https://www.cs.toronto.edu/~kriz/",
        ),
    ),
}
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": DIGIT_NAMES,
    "fashion-mnist": (
        "t-shirt/top",
        "trouser",
        "pullover",
        "dress",
        "coat",
        "sandal",
        "shirt",
        "sneaker",
        "bag",
        "ankle boot",
    ),
    "cifar10": (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
}
CIFAR_BATCHES = tuple(f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6))
_CIFAR_RECORD = 1 + 3 * 32 * 32  # label byte, then the R, G and B planes


class _ChecksumMismatch(Exception):
    pass


def fetch(remote: RemoteFile, folder: Path) -> Path:
    """Download `remote` into `folder`, verifying its MD5; the file appears only if valid.

    The body streams into a temporary file in the same folder and is renamed into place
    after the checksum matches, so an interrupted or corrupt download never looks cached.
    """
    folder.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for url in remote.urls:
        handle, temporary = tempfile.mkstemp(prefix=f".{remote.name}.", suffix=".part", dir=folder)
        try:
            digest = hashlib.md5(usedforsecurity=False)
            with os.fdopen(handle, "wb") as out, urlopen(url, timeout=_TIMEOUT_SECONDS) as body:
                while chunk := body.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != remote.md5:
                raise _ChecksumMismatch(
                    f"checksum mismatch: expected md5 {remote.md5}, got {digest.hexdigest()}"
                )
            os.replace(temporary, folder / remote.name)
            return folder / remote.name
        except (_ChecksumMismatch, urllib.error.URLError, OSError) as error:
            failures.append(f"{url}: {error}")
        finally:
            Path(temporary).unlink(missing_ok=True)
    raise DatasetError(f"could not download {remote.name} (nothing was saved): " + "; ".join(failures))


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse a gzipped IDX file of unsigned bytes with `ndim` dimensions."""
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as error:
        raise DatasetError(f"{path} is not a readable gzip file ({error}); delete it") from error
    if len(data) < 4 or data[:3] != b"\x00\x00\x08" or data[3] != ndim:
        raise DatasetError(f"{path} is not a {ndim}-dimensional unsigned-byte IDX file")
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != math.prod(dims):
        raise DatasetError(f"{path}: header says {dims} but holds {len(data) - header} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_mnist(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(folder / "train-images-idx3-ubyte.gz", 3)
    labels = read_idx(folder / "train-labels-idx1-ubyte.gz", 1)
    if len(images) != len(labels) or images.shape[1:] != (28, 28):
        raise DatasetError(f"{folder}: {images.shape} images do not match {len(labels)} labels")
    return images[:, None], labels


def _read_cifar(archive: Path) -> tuple[np.ndarray, np.ndarray]:
    records: list[np.ndarray] = []
    try:
        # Members are read by their known names, never extracted, so no path in the
        # archive can write outside the cache.
        with tarfile.open(archive, "r:gz") as tar:
            for member in CIFAR_BATCHES:
                file = tar.extractfile(member)
                if file is None:
                    raise DatasetError(f"{archive}: {member} is not a regular file")
                data = np.frombuffer(file.read(), dtype=np.uint8)
                if data.size % _CIFAR_RECORD:
                    raise DatasetError(f"{archive}: {member} is not whole 3073-byte records")
                records.append(data.reshape(-1, _CIFAR_RECORD))
    except KeyError as error:
        raise DatasetError(f"{archive} lacks {error}; is it cifar-10-binary.tar.gz?") from error
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DatasetError(f"{archive} is not a readable tar.gz ({error}); delete it") from error
    table = np.concatenate(records)
    return table[:, 1:].reshape(-1, 3, 32, 32), table[:, 0]


def load_remote(
    name: str, cache_dir: str | Path | None, download: bool
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Load a downloadable dataset from `cache_dir/name/`, fetching it if `download`."""
    folder = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser() / name
    missing = [remote for remote in SOURCES[name] if not (folder / remote.name).is_file()]
    if missing and not download:
        names = ", ".join(remote.name for remote in missing)
        raise DatasetError(
            f"dataset {name!r} is not cached in {str(folder)!r} (missing {names}); "
            "pass download=True to fetch it, or place the published files there"
        )
    for remote in missing:
        fetch(remote, folder)
    if name == "cifar10":
        images, labels = _read_cifar(folder / SOURCES[name][0].name)
    else:
        images, labels = _read_mnist(folder)
    if labels.size and int(labels.max()) >= len(CLASS_NAMES[name]):
        raise DatasetError(f"{folder}: label {int(labels.max())} out of range for {name}")
    # Copy: frombuffer arrays are read-only views of the decompressed bytes.
    images_tensor = torch.from_numpy(np.array(images, copy=True))
    return images_tensor, torch.from_numpy(labels.astype(np.int64)), CLASS_NAMES[name]
