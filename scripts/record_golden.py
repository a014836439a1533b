"""Re-record tests/golden/hashes.json for this host's serving form (docs/golden-hashes.md).

    .venv/bin/python scripts/record_golden.py

Renders every golden case of every shipped model through the real app and the CLI, exactly as
tests/golden/test_golden.py does, and replaces this form's entry; other forms' entries are kept.
A re-record after an intended byte change must say why in its commit.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient

from app.main import create_app
from tests.app.conftest import make_settings
from tests.golden.cases import (
    HASHES_PATH,
    client_settings,
    load_records,
    model_hashes,
    serving_form,
    shipped_models,
)


def record() -> dict[str, dict[str, str]]:
    """``{checkpoint content hash: {case id: sha256}}`` for every shipped model, on this host."""
    form: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="golden-") as scratch:
        root = Path(scratch)
        for model in shipped_models():
            workdir = root / model.name
            workdir.mkdir()
            # The same settings the test's make_client builds (a fresh data folder, no Redis).
            settings = make_settings(root / "data" / model.name, **client_settings(model))
            with TestClient(create_app(settings)) as client:
                form[model.content_sha256] = model_hashes(model, client, workdir)
            print(f"{model.name}: {len(form[model.content_sha256])} cases ({model.content_sha256[:12]})")
    return form


def main() -> None:
    form = serving_form()
    records = load_records()
    records[form] = record()
    # Written whole, then renamed, so an interrupted run never leaves a torn file behind.
    temporary = HASHES_PATH.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, HASHES_PATH)
    print(f"recorded form {form!r} in {HASHES_PATH}")


if __name__ == "__main__":
    main()
