"""Several workers on one queue: every job trains exactly once."""

from __future__ import annotations

from tests.worker.conftest import Cluster, training_attempts


def test_two_workers_share_the_queue_and_train_each_job_once(cluster: Cluster) -> None:
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    jobs = [cluster.submit(f"shared-{index}", steps=80) for index in range(4)]
    records = [cluster.wait_final(job_id, timeout=90) for job_id in jobs]

    assert [r.status for r in records] == ["succeeded"] * 4, cluster.all_logs()
    assert [r.attempts for r in records] == [1] * 4
    assert all(r.progress.step == 80 for r in records)
    logs = cluster.log("w1") + cluster.log("w2")
    assert [training_attempts(logs, job_id) for job_id in jobs] == [1] * 4
    # Both workers took jobs (each reserves one message at a time).
    workers = {r.worker.split("@")[0] for r in records if r.worker}
    assert workers == {"w1", "w2"}
    cluster.wait_until(cluster.queue_is_drained, 10, "an empty queue")


def test_a_second_message_for_a_running_job_is_dropped_without_training(
    cluster: Cluster,
) -> None:
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    job_id = cluster.submit("once", steps=400, checkpoint_every=50)
    running = cluster.wait_record(job_id, lambda r: r.status == "running", 60, "running")
    assert running.worker is not None
    busy = running.worker.split("@")[0]
    idle = "w2" if busy == "w1" else "w1"

    # At-least-once delivery: the same job arrives again while its first attempt trains.
    cluster.send(job_id)
    cluster.wait_for_log(idle, f"job {job_id} is held by another attempt; message dropped")
    assert cluster.record(job_id).status == "running"
    # The refused copy is acknowledged, not requeued: only the running attempt's delivery is left.
    client = cluster.redis.client()
    queue = cluster.settings.queue_name
    cluster.wait_until(
        lambda: client.hlen("unacked") == 1 and client.llen(queue) == 0, 10, "the refused copy acknowledged"
    )

    record = cluster.wait_final(job_id, timeout=90)
    assert record.status == "succeeded", record.error
    assert record.attempts == 1
    assert record.progress.step == 400
    logs = cluster.log("w1") + cluster.log("w2")
    assert training_attempts(logs, job_id) == 1

    # And once finished, another copy is acknowledged as a no-op.
    cluster.send(job_id)
    cluster.wait_until(
        lambda: f"job {job_id} is already succeeded" in cluster.log("w1") + cluster.log("w2"),
        30,
        "the late duplicate to be ignored",
    )
    assert cluster.record(job_id).attempts == 1
    cluster.wait_until(cluster.queue_is_drained, 10, "an empty queue")
