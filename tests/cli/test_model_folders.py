"""One home for models: `ganserve train` writes into the data folder the service serves, and
`ganserve import` brings a run folder from elsewhere into it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from cli.main import main
from common.jobs import JobRecord, JobStore, new_job_id
from common.settings import Settings

TINY = ["--dataset", "digits", "--steps", "20", "--g-width", "8", "--d-width", "8", "--eval-samples", "0"]


def train(data_dir: Path, name: str, *extra: str) -> int:
    return main(["train", *TINY, "--name", name, "--data-dir", str(data_dir), "--quiet", *extra])


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Run from an empty folder, so anything written relative to it would show.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GAN_DATA_DIR", raising=False)
    return tmp_path / "served"


def test_a_trained_model_is_served_at_once_and_nothing_lands_in_the_working_folder(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train(data_dir, "from-shell") == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["model"] == "from-shell"
    assert Path(printed["run_dir"]) == data_dir / "models" / "from-shell"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served"]

    app = create_app(Settings(data_dir=data_dir, redis_url="redis://127.0.0.1:1/0"))
    with TestClient(app) as client:
        assert "from-shell" in [m["name"] for m in client.get("/models").json()]
        image = client.get("/sample", params={"model": "from-shell", "seed": 3})
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"

    # The sampling commands find it by name in the same folder.
    assert (
        main(
            [
                "sample",
                "from-shell",
                "--seed",
                "3",
                "--data-dir",
                str(data_dir),
                "-o",
                str(tmp_path / "s.png"),
            ]
        )
        == 0
    )
    assert (tmp_path / "s.png").read_bytes() == image.content


def test_train_refuses_a_shipped_name_and_a_name_a_job_is_training(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train(data_dir, "mnist-dcgan") == 1
    assert "shipped model" in capsys.readouterr().err
    store = JobStore(data_dir / "jobs")
    job_id = new_job_id()
    store.create(JobRecord(id=job_id, model="busy", config={}, status="running"))
    assert train(data_dir, "busy") == 1
    assert job_id in capsys.readouterr().err
    assert not (data_dir / "models" / "busy").exists()


def test_out_still_writes_a_run_folder_elsewhere(data_dir: Path, tmp_path: Path) -> None:
    assert train(data_dir, "elsewhere", "-o", str(tmp_path / "run")) == 0
    assert (tmp_path / "run" / "checkpoints").is_dir()
    assert not (data_dir / "models" / "elsewhere").exists()


def test_import_copies_a_run_folder_in_and_never_overwrites(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "runs" / "old-run"
    assert train(data_dir, "old-run", "-o", str(run)) == 0
    capsys.readouterr()
    assert main(["import", str(run), "--data-dir", str(data_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "old-run"
    imported = data_dir / "models" / "old-run" / "checkpoints"
    assert sorted(p.name for p in imported.iterdir()) == sorted(
        p.name for p in (run / "checkpoints").iterdir()
    )
    before = {p: p.read_bytes() for p in imported.iterdir()}

    assert main(["import", str(run), "--data-dir", str(data_dir)]) == 1
    assert "exists already" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in imported.iterdir()} == before
    assert main(["import", str(tmp_path / "runs"), "--name", "x", "--data-dir", str(data_dir)]) == 1
    assert "not a run folder" in capsys.readouterr().err
    assert main(["import", str(run), "--name", "../up", "--data-dir", str(data_dir)]) == 1
    assert "model name must be" in capsys.readouterr().err
    # No staging copy is left behind by the refusals.
    assert sorted(p.name for p in (data_dir / "models").iterdir()) == ["old-run"]
