"""Drive a server with wrk (Debian package ``wrk``) and read back rate and latency percentiles.

wrk is a C load generator: on a 2-core machine a Python client would take a core away from the
server it measures. One wrk thread is plenty at these rates and leaves the most CPU to the
server. Each request gets its own seed (``{seed}`` in the path), so nothing is served twice.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Lua for wrk: a fresh seed per request, and the figures as one JSON line at the end.
_SCRIPT = r"""
local template = os.getenv("BENCH_PATH")
local counter = 0
request = function()
  counter = counter + 1
  local path = string.gsub(template, "{seed}", tostring(counter * 7919 + math.random(0, 7918)))
  return wrk.format("GET", path)
end
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "seconds": %.6f, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int  # responses received, any status
    non_2xx: int
    socket_errors: int  # connect/read/write errors and timeouts (no response at all)
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        """Successful (2xx) responses per second."""
        return (self.requests - self.non_2xx) / self.seconds

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    return found


def run_wrk(base_url: str, path: str, *, connections: int, seconds: int, timeout: int = 10) -> LoadResult:
    """Hold ``connections`` requests in flight against ``base_url + path`` for ``seconds``.

    Args:
        base_url: ``http://127.0.0.1:PORT``.
        path: request path; ``{seed}`` is replaced by a different number in every request.
        connections: concurrent clients (each waits for its response before the next request).
        seconds: duration of the measurement.
        timeout: wrk's per-request timeout; slower requests count as errors.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(_SCRIPT)
        script = Path(handle.name)
    try:
        completed = subprocess.run(
            [
                wrk_binary(),
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                f"--timeout={timeout}s",
                "-s",
                str(script),
                base_url,
            ],
            capture_output=True,
            text=True,
            check=True,
            env={"BENCH_PATH": path},
        )
    finally:
        script.unlink(missing_ok=True)
    line = next(row for row in completed.stdout.splitlines() if row.startswith("BENCH "))
    figures = json.loads(line.removeprefix("BENCH "))
    return LoadResult(
        requests=figures["requests"],
        non_2xx=figures["non_2xx"],
        socket_errors=figures["socket_errors"],
        seconds=figures["seconds"],
        p50_ms=figures["p50_us"] / 1000,
        p95_ms=figures["p95_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
    )
