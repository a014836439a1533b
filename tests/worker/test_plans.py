"""Plans are measured, not guessed: a real worker records what a whole job cost under the
job's shape, and POST /train/plan turns that into an estimate and a time budget into steps."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.main import create_app
from common.throughput import THROUGHPUT_KEY
from tests.worker.conftest import TINY, Cluster

# TINY's fields, as a request sends them (the recipe fills in nothing of the shape).
BODY = {key: value for key, value in TINY.items() if key not in ("checkpoint_every", "sample_every")}


def test_a_finished_job_measures_its_shape_for_the_next_plan(cluster: Cluster) -> None:
    app = create_app(cluster.settings)
    with TestClient(app) as client:
        before = client.post("/train/plan", json={**BODY, "steps": 200}).json()
        assert before["estimate_seconds"] is None
        assert "no worker has trained a job of this shape yet" in before["estimate"]
        refused = client.post(
            "/train/plan", json={**{k: v for k, v in BODY.items() if k != "steps"}, "budget_minutes": 1}
        )
        assert refused.status_code == 422 and "give steps instead" in refused.json()["detail"]

        cluster.start_worker("w1")
        submitted = client.post("/train", json={**BODY, "steps": 200, "checkpoint_every": 100, "name": "m"})
        assert submitted.status_code == 202, submitted.text
        record = cluster.wait_final(submitted.json()["id"])
        assert record.status == "succeeded"
        assert cluster.redis.client().hlen(THROUGHPUT_KEY) == 1
        took = record.finished_at - record.started_at  # type: ignore[operator]

        plan = client.post("/train/plan", json={**BODY, "steps": 400}).json()
        assert plan["estimate"] == "measured on these workers"
        # Twice the steps of the measured job: about twice its duration (start-up included).
        assert 1.0 * took <= plan["estimate_seconds"] <= 3.0 * took, (plan, took)

        shape = {k: v for k, v in BODY.items() if k != "steps"}
        budget = client.post("/train/plan", json={**shape, "budget_minutes": took * 2 / 60}).json()
        assert 300 <= budget["config"]["steps"] <= 500, budget
        assert "minutes at the measured" in budget["chosen"]["steps"]
        both = client.post("/train/plan", json={**BODY, "budget_minutes": 1})
        assert both.status_code == 422 and "not both" in both.json()["detail"]
        # Another shape has no figure.
        other = client.post("/train/plan", json={**BODY, "g_width": 8}).json()
        assert other["estimate_seconds"] is None
