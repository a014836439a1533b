"""Uploads against the real uvicorn server, over raw sockets: a client that goes away mid-upload,
and one that stalls. Neither is a server error, and neither leaves its temporary folder behind."""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from tests.reliability.archives import labelled_images, zip_of
from tests.reliability.conftest import API_KEY, Stack

BOUNDARY = "raw-b0undary"
REQUEST_COUNT = re.compile(r"^ganserve_http_request_duration_seconds_count\{([^}]*)\} ([0-9.]+)$", re.M)


def upload_head(declared_file_bytes: int) -> tuple[bytes, bytes]:
    """Request head and multipart head of an upload whose file part is ``declared_file_bytes``."""
    part = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\nraw\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="d.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    total = len(part) + declared_file_bytes + len(f"\r\n--{BOUNDARY}--\r\n")
    request = (
        "POST /datasets HTTP/1.1\r\nHost: test\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {total}\r\n\r\n"
    ).encode()
    return request, part


@contextlib.contextmanager
def raw_connection(url: str) -> Iterator[socket.socket]:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        yield sock


def temporary_folders(stack: Stack) -> list[Path]:
    return sorted(stack.settings.datasets_dir.glob(".upload-*"))


def file_part_on_disk(stack: Stack) -> int:
    return sum(path.stat().st_size for path in stack.settings.datasets_dir.glob(".upload-*/upload"))


def request_counts(stack: Stack) -> dict[tuple[str, str, str], float]:
    """Requests counted in ``/metrics``, by (route, method, status)."""
    with stack.http() as http:
        text = http.get("/metrics").text
    counts = {}
    for labels, value in REQUEST_COUNT.findall(text):
        pairs = dict(re.findall(r'([a-z]+)="([^"]*)"', labels))
        counts[pairs["route"], pairs["method"], pairs["status"]] = float(value)
    return counts


def server_errors(counts: dict[tuple[str, str, str], float]) -> list[tuple[str, str, str]]:
    return [key for key in counts if key[2].startswith("5")]


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_client_that_disconnects_mid_upload_is_no_server_error(stack: Stack) -> None:
    api = stack.start_api()
    request, part = upload_head(64 << 20)
    with raw_connection(api.url) as sock:
        sock.sendall(request + part)
        for _ in range(8):
            sock.sendall(bytes(256 << 10))
        stack.wait_until(lambda: file_part_on_disk(stack) >= 1 << 20, 30, "a megabyte of the upload on disk")
    # The socket is closed with 62 MiB still to come.
    stack.wait_until(lambda: not temporary_folders(stack), 30, "the temporary folder to be removed")

    def counted() -> dict[tuple[str, str, str], float] | None:
        counts = request_counts(stack)
        return counts if ("/datasets", "POST", "499") in counts else None

    counts = stack.wait_until(counted, 10, "the upload to be counted as 499 (client closed it)")
    assert counts["/datasets", "POST", "499"] == 1
    assert server_errors(counts) == [], counts
    log = stack.log("api")
    for sign in ("unhandled", "Traceback", "Exception in ASGI application"):
        assert sign not in log, log
    # The server is fine, and a whole upload still works.
    with stack.http() as http:
        response = http.post(
            "/datasets",
            headers={"Authorization": f"Bearer {API_KEY}"},
            data={"name": "after"},
            files={"file": ("a.zip", zip_of(labelled_images()), "application/zip")},
        )
    assert response.status_code == 201, response.text


def test_a_stalled_upload_is_closed_with_a_408_and_its_folder_removed(tmp_path: Path) -> None:
    with contextlib.closing(Stack(tmp_path, GAN_UPLOAD_IDLE_SECONDS="1.5")) as stack:
        api = stack.start_api()
        request, part = upload_head(8 << 20)
        with raw_connection(api.url) as sock:
            sock.sendall(request + part)
            # Slow but steady: 2.5 s in all, yet never 1.5 s without a byte, so it goes on.
            for _ in range(5):
                sock.sendall(bytes(64 << 10))
                time.sleep(0.5)
            assert temporary_folders(stack), "the upload should still be in progress"
            stalled_at = time.monotonic()
            answer = read_until_closed(sock, timeout=30)  # ends when the server closes
            waited = time.monotonic() - stalled_at
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"no upload data arrived for 1.5 s" in answer
        assert waited < 20, waited
        stack.wait_until(lambda: not temporary_folders(stack), 10, "the temporary folder to be removed")
        counts = request_counts(stack)
        assert counts.get(("/datasets", "POST", "408")) == 1, counts
        assert server_errors(counts) == [], counts
        assert "Traceback" not in stack.log("api")
