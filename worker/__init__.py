"""The Celery worker: runs training jobs from the queue and re-enqueues orphaned ones.

``celery_app`` wires Celery to the plain code here: ``jobs.run_job`` (one attempt at one job),
``lease`` (at most one attempt at a time), ``reaper`` (finds jobs whose worker died) and
``shutdown`` (stopping a training child cleanly when its worker is asked to stop).
"""
