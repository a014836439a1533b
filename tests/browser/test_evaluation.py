"""A finished job's page shows the record's final evaluation and the plan's estimate (see
conftest.py for the stack: real Redis, worker and API)."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from tests.browser.conftest import API_KEY, Stack, shoot
from tests.support.class_images import class_zip
from tests.support.configs import TINY_TRAINING
from tests.support.processes import wait_until

pytestmark = pytest.mark.browser

AUTH = {"Authorization": f"Bearer {API_KEY}"}
# Tiny, conditional (so a label accuracy), judged on 100 images by the shipped digits evaluator;
# 200 steps, the fewest whose cost the worker records, so a second job of the shape has an estimate.
JUDGED = {**TINY_TRAINING, "architecture": "cdcgan", "steps": 200, "eval_samples": 100}
NUMBER = r"([0-9][0-9,]*(?:\.[0-9]+)?)"


def train(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    """Submits a job and waits for it to succeed; returns its record as the API shows it."""
    submitted = stack.http.post("/train", headers=AUTH, json=body)
    assert submitted.status_code == 202, submitted.text
    url = f"/jobs/{submitted.json()['id']}"

    def final() -> dict[str, Any] | None:
        record: dict[str, Any] = stack.http.get(url).json()
        return record if record["status"] in ("succeeded", "failed", "cancelled") else None

    record = wait_until(final, 240, f"job {body['name']} to finish", interval=0.5)
    assert record["status"] == "succeeded", record
    return record


def open_job(page: Any, record: dict[str, Any], state: str) -> Any:
    page.goto(f"/#jobs?job={record['id']}")
    page.wait_for_selector("body[data-ready=jobs]", state="attached")
    page.wait_for_selector(f"#job-evaluation[data-state='{state}']")
    return page.locator("#job-evaluation")


def shown_numbers(text: str, pattern: str) -> list[float]:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in {text!r}"
    return [float(group.replace(",", "")) for group in found.groups()]


def format_duration(seconds: float) -> str:
    """api.js formatDuration, for the durations a test job has."""
    whole = round(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60} s"


def stat(page: Any, label: str) -> str:
    """The value beside ``label`` in the job's stats."""
    item = page.locator("#job-detail .stats div", has=page.locator("dt", has_text=label))
    text: str = item.locator("dd").inner_text()
    return text


def test_a_judged_job_shows_its_figures_from_the_record_and_its_estimate(page: Any, stack: Stack) -> None:
    first = train(stack, {**JUDGED, "name": "browser-judged-first"})
    record = train(stack, {**JUDGED, "name": "browser-judged"})
    assert first["estimate_seconds"] is None and record["estimate_seconds"] is not None, (first, record)
    evaluation = record["evaluation"]
    assert evaluation["status"] == "done" and evaluation["frechet_distance"] is not None, evaluation

    section = open_job(page, record, "done")
    fd_text = section.locator("[data-figure=fd]").inner_text()
    fd, floor, ratio = shown_numbers(fd_text, rf"FD {NUMBER} against a floor of {NUMBER} \({NUMBER}x\)")
    # Three significant digits for the distances, one decimal for the ratio.
    assert math.isclose(fd, evaluation["frechet_distance"], rel_tol=0.005), (fd, evaluation)
    assert math.isclose(floor, evaluation["floor_frechet_distance"], rel_tol=0.005), (floor, evaluation)
    assert math.isclose(ratio, evaluation["fd_ratio"], rel_tol=0.005, abs_tol=0.05), (ratio, evaluation)
    classes = section.locator("[data-figure=classes]").inner_text()
    assert classes == f"Classes present {evaluation['classes_present']} / {evaluation['num_classes']}"
    (accuracy,) = shown_numbers(section.locator("[data-figure=label-accuracy]").inner_text(), rf"{NUMBER}%")
    assert math.isclose(accuracy, evaluation["label_accuracy"] * 100, abs_tol=0.051), (accuracy, evaluation)
    memorised = section.locator("[data-figure=memorised]").inner_text()
    (share,) = shown_numbers(memorised, rf"^Memorised {NUMBER}%")
    assert math.isclose(share, evaluation["memorization"]["share"] * 100, abs_tol=0.051), (share, evaluation)
    assert "nearest training image in evaluator features" in memorised
    judged_by = section.locator("[data-figure=evaluator]").inner_text()
    (heldout,) = shown_numbers(judged_by, rf"the shipped digits evaluator, {NUMBER}% on held-out images")
    assert math.isclose(heldout, evaluation["evaluator"]["heldout_accuracy"] * 100, abs_tol=0.051)
    assert f"{evaluation['samples']} generated images" in judged_by
    assert section.locator("[data-figure=reason]").count() == 0
    assert section.inner_text().startswith("FD "), section.inner_text()  # nothing stray above

    assert stat(page, "Estimated") == format_duration(record["estimate_seconds"])
    assert stat(page, "Took") == format_duration(record["finished_at"] - record["started_at"])
    assert page.locator("#job-detail .badge").inner_text() == "Finished"
    shoot(page, "watch-evaluated")

    page.goto(f"/#jobs?job={first['id']}")  # the first of its shape: nothing to estimate from
    page.wait_for_selector(f"#job-detail .job-title:text-is('{first['model']}')")
    assert stat(page, "Estimated") == "not measured yet"


def test_data_without_an_evaluator_shows_why_there_is_no_fd(page: Any, stack: Stack) -> None:
    uploaded = stack.http.post(
        "/datasets",
        headers=AUTH,
        data={"name": "few-squares"},
        files={"file": ("few.zip", class_zip({"circles": 60, "squares": 12}, side=8), "application/zip")},
    )
    assert uploaded.status_code == 201, uploaded.text
    body = {**TINY_TRAINING, "dataset": "few-squares", "latent_dim": 8, "eval_samples": 100}
    record = train(stack, {**body, "name": "browser-no-fd"})
    evaluation = record["evaluation"]
    assert evaluation["frechet_distance"] is None and evaluation["reason"].startswith("no FD: "), evaluation

    section = open_job(page, record, "no-fd")
    reason = evaluation["reason"]
    assert section.locator("[data-figure=reason]").inner_text() == reason[0].upper() + reason[1:]
    assert section.locator("[data-figure=fd]").count() == 0
    memorised = section.locator("[data-figure=memorised]").inner_text()
    (share,) = shown_numbers(memorised, rf"^Memorised {NUMBER}%")
    assert math.isclose(share, evaluation["memorization"]["share"] * 100, abs_tol=0.051), (share, evaluation)
    assert "nearest training image in pixels" in memorised
    shoot(page, "watch-no-fd")
