"""The client is its own package: importing it runs nothing of the server's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter: the test process has long imported `app` (and set its environment).
PROBE = """
import json, os, sys
before = dict(os.environ)
import client
from client import ApiError, GanServeClient, Strip, parse_sse
after = dict(os.environ)
server = sorted(m for m in sys.modules if m == "app" or m.startswith("app."))
print(json.dumps({"before": before, "after": after, "server_modules": server}))
"""


def test_importing_the_client_leaves_the_environment_and_the_server_alone() -> None:
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["after"] == seen["before"]
    assert "OMP_WAIT_POLICY" not in seen["after"]
    assert seen["server_modules"] == []


def test_the_server_package_keeps_no_client_module() -> None:
    assert not (ROOT / "app" / "client.py").exists()
    assert not (ROOT / "app" / "client").exists()
