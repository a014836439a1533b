"""Job records on disk: exclusive creation, atomic replacement, ids that never reach paths."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from common.jobs import SCHEMA_VERSION, JobRecord, JobStore, new_job_id
from common.specs import TrainingSpec


def test_create_is_exclusive_and_save_replaces(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    record = JobRecord(id=new_job_id(), model="m", config={"steps": 50})
    assert store.create(record)
    assert not store.create(record.model_copy(update={"model": "other"}))
    assert store.get(record.id).model == "m"  # type: ignore[union-attr]
    record.status = "running"
    store.save(record)
    assert store.get(record.id).status == "running"  # type: ignore[union-attr]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_queued_job_knows_its_length(tmp_path: Path) -> None:
    record = JobRecord(id=new_job_id(), model="m", config={"steps": 200})
    assert record.progress.total_steps == 200


@pytest.mark.parametrize("bad", ["../etc/passwd", "x" * 32, "", "A" * 32])
def test_malformed_ids_never_touch_the_filesystem(tmp_path: Path, bad: str) -> None:
    store = JobStore(tmp_path)
    assert store.get(bad) is None
    with pytest.raises(KeyError):
        store.path(bad)


def test_unreadable_records_are_skipped_in_listings(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    good = JobRecord(id=new_job_id(), model="m", config={})
    store.create(good)
    (tmp_path / f"{new_job_id()}.json").write_text("{torn")
    assert [r.id for r in store.list()] == [good.id]


def test_cancel_flag_is_durable(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    job_id = new_job_id()
    assert not store.cancel_requested(job_id)
    store.request_cancel(job_id)
    assert JobStore(tmp_path).cancel_requested(job_id)


def test_listings_reparse_only_changed_records_and_always_see_changes(tmp_path: Path) -> None:
    # Listings parse each record once per version of its file (the soak showed GET /jobs and
    # every submission getting slower with every job ever run); changes must still show.
    store = JobStore(tmp_path)
    first = JobRecord(id=new_job_id(), model="a", config={})
    second = JobRecord(id=new_job_id(), model="b", config={})
    store.create(first)
    store.create(second)
    assert {r.status for r in store.list()} == {"queued"}
    reads: list[str] = []
    read = store.get
    store.get = lambda job_id: reads.append(job_id) or read(job_id)  # type: ignore[method-assign]
    listed = store.list()
    assert reads == []  # nothing changed: nothing read again
    listed[0].status = "failed"  # a caller's copy: the store is not changed through it
    assert {r.status for r in store.list()} == {"queued"}
    first.status = "running"
    store.save(first)
    assert {r.id: r.status for r in store.list()} == {first.id: "running", second.id: "queued"}
    assert reads == [first.id]
    other = JobStore(tmp_path)  # another process wrote it
    record = other.get(second.id)
    assert record is not None
    record.status = "succeeded"
    other.save(record)
    assert {r.id: r.status for r in store.list()} == {first.id: "running", second.id: "succeeded"}
    store.delete(first.id)
    assert [r.id for r in store.list()] == [second.id]


def test_stale_temporaries_are_removed_and_fresh_ones_kept(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    record = JobRecord(id="c" * 32, model="m", config={})
    store.create(record)
    stale = tmp_path / f".{record.id}.json.123.abcdef01.tmp"
    fresh = tmp_path / f".{record.id}.json.456.abcdef02.tmp"
    stale.write_text("{half a rec")
    fresh.write_text("{being written")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert store.remove_stale_temporaries() == 1
    assert not stale.exists() and fresh.exists()
    assert store.get(record.id) == record  # records themselves are never touched


def test_a_record_of_schema_version_1_loads_upgraded_and_saves_as_the_current_version(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    # A record exactly as version 1 wrote it: no schema_version, no kind.
    legacy = {
        "id": "d" * 32,
        "status": "running",
        "model": "old",
        # Before version 3 the config also held the host's fields (the old engine config).
        "config": {
            "name": "old",
            "dataset": "digits",
            "steps": 40,
            "device": "auto",
            "dataset_path": None,
            "extra": {},
        },
        "created_at": 1.0,
        "updated_at": 2.0,
        "progress": {"step": 10, "total_steps": 40, "images_per_second": 0.0, "eta_seconds": None},
        "losses": {"loss_d": 1.0},
        "quality": None,
        "checkpoint_step": 10,
        "error": None,
        "attempts": 1,
        "worker": "w@host",
    }
    store.path(legacy["id"]).write_text(json.dumps(legacy))
    record = store.get(legacy["id"])
    assert record is not None
    assert (record.schema_version, record.kind) == (SCHEMA_VERSION, "training")
    assert (record.status, record.progress.step) == ("running", 10)
    assert record.config == TrainingSpec(dataset="digits", steps=40)  # typed, host fields gone
    store.save(record)
    assert json.loads(store.path(record.id).read_text())["schema_version"] == SCHEMA_VERSION


def test_a_version_2_record_upgrades_its_config_to_the_typed_spec(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    record = JobRecord(id="c" * 32, model="m", config=TrainingSpec(steps=7, loss="hinge")).model_dump(
        mode="json"
    )
    record["schema_version"] = 2
    record["config"] |= {"name": "m", "device": "cuda", "dataset_path": None, "extra": {}}
    store.path(record["id"]).write_text(json.dumps(record))
    loaded = store.get(record["id"])
    assert loaded is not None and loaded.config == TrainingSpec(steps=7, loss="hinge")


def test_a_record_written_before_divergence_weight_existed_reads_it_as_null(tmp_path: Path) -> None:
    # The field came after schema version 3 without a new version: its absence means null.
    store = JobStore(tmp_path)
    spec = TrainingSpec(loss="fgan", divergence="js-weighted")
    record = JobRecord(id="f" * 32, model="m", config=spec).model_dump(mode="json")
    del record["config"]["divergence_weight"]
    store.path(record["id"]).write_text(json.dumps(record))
    loaded = store.get(record["id"])
    assert loaded is not None and loaded.config == spec and loaded.config.divergence_weight is None


def test_a_current_record_with_a_field_outside_the_spec_is_unreadable(tmp_path: Path) -> None:
    # Host fields are dropped only from records that predate the typed spec.
    store = JobStore(tmp_path)
    record = JobRecord(id="b" * 32, model="m", config={}).model_dump(mode="json")
    record["config"]["device"] = "cuda"
    store.path(record["id"]).write_text(json.dumps(record))
    assert store.get(record["id"]) is None


def test_a_record_from_a_newer_version_is_refused_and_left_untouched(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    newer = JobRecord(id="e" * 32, model="m", config={}).model_dump(mode="json")
    newer["schema_version"] = SCHEMA_VERSION + 1
    text = json.dumps(newer)
    store.path(newer["id"]).write_text(text)
    assert store.get(newer["id"]) is None
    assert store.list() == []
    assert store.path(newer["id"]).read_text() == text
