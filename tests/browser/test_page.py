"""The page at ``/`` driven in headless Chromium against the real stack (see conftest.py)."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pytest
from PIL import Image

from tests.browser.conftest import API_KEY, DESKTOP, PHONE, Stack, shoot

pytestmark = pytest.mark.browser

TRAINED = "browser-run"
# A tiny job that still runs for a few seconds, so there is something to watch: checkpoints,
# quality figures and timeline grids every 200 steps give the plots and timeline 7 points.
JOB_FORM = {
    "Steps": "1200",
    "Batch size": "16",
    "Model name": TRAINED,
    "Latent size": "16",
    "Generator width": "8",
    "Discriminator width": "8",
    "Checkpoint every (steps)": "200",
    "Timeline grid every (steps)": "200",
    "Images per quality check": "64",
}
# Records every state of the job view the page shows, so the test can tell the progress and the
# loss plot changed while the job was running (and not only once it had finished).
WATCH_SCRIPT = """
window.__watch = [];
new MutationObserver(() => {
  const detail = document.getElementById("job-detail");
  const chart = document.getElementById("job-loss-chart");
  if (!detail || !detail.dataset.status || !chart) return;
  const snap = {status: detail.dataset.status, step: Number(detail.dataset.step),
                points: Number(chart.dataset.points || 0)};
  const last = window.__watch[window.__watch.length - 1];
  if (!last || last.status !== snap.status || last.step !== snap.step || last.points !== snap.points) {
    window.__watch.push(snap);
  }
}).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
"""
FETCH_BYTES = "async (src) => Array.from(new Uint8Array(await (await fetch(src)).arrayBuffer()))"
# The current interpolation frame, read back from the canvas one source pixel per block.
CANVAS_PIXELS = """() => {
  const canvas = document.getElementById("interpolate-canvas");
  const scale = Number(canvas.dataset.scale);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const values = [];
  for (let y = 0; y < canvas.height; y += scale)
    for (let x = 0; x < canvas.width; x += scale) values.push(data[(y * canvas.width + x) * 4]);
  return {width: canvas.width / scale, height: canvas.height / scale, values};
}"""

# Visible form controls nobody could name: no <label>, no aria-label(ledby), no button text.
UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter((el) => el.getClientRects().length > 0)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                  && !el.getAttribute("aria-labelledby")
                  && !(el.tagName === "BUTTON" && el.textContent.trim()))
  .map((el) => el.id || el.outerHTML.slice(0, 120))"""
VIEWS = ("sample", "interpolate", "train", "jobs", "models")


def ready(page: Any, view: str) -> None:
    page.wait_for_selector(f"body[data-ready={view}]", state="attached")


def shown_image(page: Any, selector: str) -> bytes:
    """The bytes behind an <img> as the page sees them (fetched from its own src)."""
    image = page.locator(selector)
    page.wait_for_selector(f"{selector}:not([hidden])")
    src = image.get_attribute("src")
    assert src
    return bytes(page.evaluate(FETCH_BYTES, src))


def wait_loaded(page: Any, stage: str) -> None:
    page.wait_for_selector(f"#{stage}[aria-busy=false]", state="attached")


def gray_pixels(png: bytes) -> list[int]:
    with Image.open(io.BytesIO(png)) as image:
        return list(image.convert("L").tobytes())


def enter_key(page: Any, key: str) -> None:
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    dialog.get_by_label("API key").fill(key)
    dialog.get_by_role("button", name="Use this key").click()


def test_page_is_served_with_its_files(stack: Stack) -> None:
    response = stack.http.get("/")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert 'src="static/app.js"' in response.text  # relative: works behind a path prefix
    script = stack.http.get("/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    for missing in ("/static/nope.js", "/static/..%2Fapi%2Froutes%2Fui.py", "/static/.hidden.js"):
        assert stack.http.get(missing).status_code == 404, missing
    options = stack.http.get("/ui/options").json()
    assert {"dcgan", "cdcgan"} <= {a["name"] for a in options["architectures"]}
    assert options["limits"]["max_batch_size"] == 512


def test_controls_are_labelled_keyboard_reachable_and_fit_a_phone(page: Any) -> None:
    page.goto("/")
    ready(page, "sample")
    focused = "() => document.activeElement.textContent.trim()"
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "Skip to content"
    for _ in range(3):  # the brand, then the tabs
        page.keyboard.press("Tab")
    assert page.evaluate(focused) == "Interpolate"
    page.keyboard.press("Enter")
    ready(page, "interpolate")
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        for view in VIEWS:
            page.goto(f"/#{view}")
            ready(page, view)
            page.locator("details").evaluate_all("all => all.forEach((d) => { d.open = true; })")
            assert page.evaluate(UNLABELLED) == [], view
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{view} scrolls sideways at {size['width']} px"


def test_sample_by_seed_matches_the_api(page: Any, stack: Stack) -> None:
    page.goto("/")
    ready(page, "sample")
    view = page.locator("#view-sample")  # Interpolate has controls with the same labels
    view.get_by_label("Model", exact=True).select_option("tiny")
    view.get_by_label("Seed", exact=True).fill("1234")
    wait_loaded(page, "sample-stage")
    expected = stack.http.get("/sample", params={"seed": 1234, "model": "tiny"}).content
    assert shown_image(page, "#sample-image") == expected
    assert "seed=1234" in page.url

    view.get_by_label("Grid").select_option("2")
    page.wait_for_selector("#sample-image[src*='count=4']")
    wait_loaded(page, "sample-stage")
    grid = stack.http.get("/sample", params={"seed": 1234, "model": "tiny", "count": 4, "columns": 2})
    assert shown_image(page, "#sample-image") == grid.content
    assert page.locator("#sample-image").evaluate("img => img.naturalWidth") == 16

    # The address is the state: the copied link, opened elsewhere, shows the same image.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    view.get_by_role("button", name="Copy link").click()
    view.get_by_role("button", name="Link copied").wait_for()
    link = page.evaluate("() => navigator.clipboard.readText()")
    assert link == page.url and "grid=2" in link
    other = page.context.new_page()
    other.goto(link)
    ready(other, "sample")
    wait_loaded(other, "sample-stage")
    assert shown_image(other, "#sample-image") == grid.content
    other.close()

    # A conditional model offers its classes; the class and truncation go into the request.
    view.get_by_label("Model", exact=True).select_option("tiny-cond")
    assert view.get_by_label("Class").is_visible()
    view.get_by_label("Class").select_option(label="3")
    view.get_by_label("Truncate the noise").check()
    page.wait_for_selector("#sample-image[src*='truncation=1']")
    wait_loaded(page, "sample-stage")
    conditional = stack.http.get(
        "/sample",
        params={"seed": 1234, "model": "tiny-cond", "count": 4, "columns": 2, "label": 3, "truncation": 1},
    )
    assert shown_image(page, "#sample-image") == conditional.content

    before = view.get_by_label("Seed", exact=True).input_value()
    view.get_by_role("button", name="Random seed").click()
    assert view.get_by_label("Seed", exact=True).input_value() != before

    view.get_by_label("Seed", exact=True).fill("not a seed")
    assert page.locator("#sample-seed-error").inner_text().startswith("A seed is a whole number")
    view.get_by_label("Seed", exact=True).fill("77")
    wait_loaded(page, "sample-stage")
    assert page.locator("#sample-seed-error").is_hidden()


def test_interpolation_slider_cuts_frames_from_one_strip(page: Any, stack: Stack) -> None:
    strips: list[str] = []
    page.on("request", lambda r: strips.append(r.url) if "/interpolate?" in r.url else None)
    page.goto("/#interpolate?model=tiny&start=3&end=9&frames=8")
    ready(page, "interpolate")
    slider = page.get_by_label("Frame", exact=True)
    assert slider.get_attribute("max") == "7"
    assert page.locator("#interpolate-frame-label").inner_text() == "1 / 8"

    def frame_pixels() -> list[int]:
        result = page.evaluate(CANVAS_PIXELS)
        assert (result["width"], result["height"]) == (8, 8)
        return list(result["values"])

    start = stack.http.get("/sample", params={"seed": 3, "model": "tiny"}).content
    end = stack.http.get("/sample", params={"seed": 9, "model": "tiny"}).content
    assert frame_pixels() == gray_pixels(start)

    slider.focus()
    page.keyboard.press("End")  # keyboard-usable: the slider is a native range input
    assert page.locator("#interpolate-frame-label").inner_text() == "8 / 8"
    assert frame_pixels() == gray_pixels(end)
    page.keyboard.press("ArrowLeft")
    assert page.locator("#interpolate-frame-label").inner_text() == "7 / 8"
    middle = frame_pixels()
    assert middle not in (gray_pixels(start), gray_pixels(end))

    page.get_by_role("button", name="Play").click()
    page.wait_for_timeout(400)
    page.get_by_role("button", name="Pause").click()
    assert page.locator("#interpolate-frame-label").inner_text() != "7 / 8"
    assert len(strips) == 1, strips  # scrubbing and playing never asked the server again

    page.get_by_label("Straight line (lerp)").check()
    page.wait_for_selector("#interpolate-stage[aria-busy=false]", state="attached")
    assert "mode=lerp" in page.url and len(strips) == 2
    slider.focus()
    page.keyboard.press("Home")
    assert frame_pixels() == gray_pixels(start)


def test_the_form_shows_the_servers_plan_and_sends_only_what_was_edited(page: Any, stack: Stack) -> None:
    page.goto("/#train")
    ready(page, "train")
    page.get_by_label("Dataset", exact=True).select_option("digits")
    plan = page.locator("#train-plan")
    page.wait_for_selector("#train-plan[data-steps='10000']")
    # The recipe for labelled 8x8 digits, shown in the fields themselves.
    assert page.get_by_label("Architecture", exact=True).input_value() == "cdcgan"
    assert page.get_by_label("Steps", exact=True).input_value() == "10000"
    page.get_by_text("More options").click()
    assert page.get_by_label("Image size (pixels)").input_value() == "8"
    assert "10,000 steps" in plan.inner_text() and "duration unknown" in plan.inner_text()
    # An edit is kept, and the plan follows it.
    page.get_by_label("Steps", exact=True).fill("3000")
    page.wait_for_selector("#train-plan[data-steps='3000']")
    page.get_by_label("Architecture", exact=True).select_option("dcgan")
    page.wait_for_selector("#train-plan:has-text('3,000 steps')")
    assert page.get_by_label("Steps", exact=True).input_value() == "3000"
    page.get_by_role("button", name="Reset to the plan").click()
    page.wait_for_selector("#train-plan[data-steps='10000']")
    assert page.get_by_label("Architecture", exact=True).input_value() == "cdcgan"


def test_bad_config_shows_the_servers_message_by_the_field(page: Any, stack: Stack, tmp_path: Any) -> None:
    jobs_before = len(stack.http.get("/jobs").json())
    page.goto("/#train")
    ready(page, "train")
    # An uploaded archive: it is installed first, then the job is refused; the form keeps it.
    archive = tmp_path / "blocks.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for index, colour in enumerate(["white", "black", "gray", "silver"]):
            buffer = io.BytesIO()
            Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
            out.writestr(f"{'light' if index % 2 == 0 else 'dark'}/{index}.png", buffer.getvalue())
    page.get_by_label("Dataset", exact=True).select_option(label="Upload an image archive…")
    page.get_by_label("Image archive (.zip, .tar, .tar.gz)").set_input_files(str(archive))
    page.get_by_label("Name for the uploaded dataset").fill("blocks")
    page.get_by_label("Batch size").fill("1000")
    page.get_by_label("Model name").fill("no spaces allowed")
    page.get_by_role("button", name="Start training").click()

    enter_key(page, "wrong-key")
    page.wait_for_selector("#key-message:has-text('not accepted')")
    enter_key(page, API_KEY)

    batch_error = page.locator("#train-batch_size-error")
    batch_error.wait_for()
    assert batch_error.inner_text() == "batch_size must be at most 512 on this server, got 1000"
    assert page.locator("#train-name-error").inner_text().startswith("name must be 1-64 characters")
    assert page.get_by_label("Batch size").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Dataset", exact=True).input_value() == "blocks"
    assert "2 classes" in page.locator("#train-dataset-info").inner_text()
    assert len(stack.http.get("/jobs").json()) == jobs_before
    shoot(page, "train-error")

    # Fixing the fields clears their messages on the next try.
    page.get_by_label("Batch size").fill("0")
    page.get_by_label("Model name").fill("")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_selector("#train-batch_size-error:has-text('greater than or equal to 1')")
    assert page.locator("#train-name-error").is_hidden()


def test_train_watch_live_and_sample_the_result(page: Any, stack: Stack) -> None:
    page.add_init_script(WATCH_SCRIPT)
    page.goto("/#train")
    ready(page, "train")
    shoot(page, "train")
    page.get_by_text("More options").click()
    for label, value in JOB_FORM.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Start training").click()
    enter_key(page, API_KEY)

    ready(page, "jobs")
    detail = page.locator("#job-detail")
    page.wait_for_selector(
        "#job-detail[data-status=running], #job-detail[data-status=succeeded]",
        state="attached",
        timeout=60_000,
    )
    page.wait_for_selector("#job-loss-chart[data-points]:not([data-points='0'])", state="attached")
    # A couple of checkpoints in, the quality plot and the timeline have something to show.
    page.wait_for_selector(
        "#job-quality-charts[data-points]:not([data-points='0']):not([data-points='1'])",
        state="attached",
        timeout=150_000,
    )
    shoot(page, "watch-running")
    page.wait_for_selector("#job-detail[data-status=succeeded]", state="attached", timeout=150_000)

    states = page.evaluate("() => window.__watch")
    running = [s for s in states if s["status"] == "running"]
    steps = [s["step"] for s in running]
    assert steps == sorted(steps), steps
    assert len({s for s in steps if 0 < s < 1200}) >= 3, states  # progress moved while it ran
    points = [s["points"] for s in running]
    assert points == sorted(points) and len(set(points)) >= 3, states  # and the plot grew
    assert states[-1]["status"] == "succeeded" and states[-1]["step"] == 1200

    assert "1,200 / 1,200" in detail.inner_text()
    assert page.locator("#job-detail .badge").inner_text() == "Finished"
    timeline = page.locator("#job-timeline")
    page.wait_for_selector("#job-timeline figcaption:has-text('After 1,200 steps')")
    assert timeline.get_attribute("data-grids") == "7"
    assert timeline.locator("figcaption").first.inner_text() == "Before training"
    assert int(page.locator("#job-quality-charts").get_attribute("data-points") or 0) >= 3
    page.wait_for_timeout(300)
    assert all(timeline.locator("img").evaluate_all("imgs => imgs.map(i => i.naturalWidth > 0)"))
    shoot(page, "watch-finished")

    page.get_by_role("link", name="Sample this model").click()
    ready(page, "sample")
    sample = page.locator("#view-sample")
    assert sample.get_by_label("Model", exact=True).input_value() == TRAINED
    sample.get_by_label("Grid").select_option("4")
    page.wait_for_selector("#sample-image[src*='count=16']")
    wait_loaded(page, "sample-stage")
    expected = stack.http.get("/sample", params={"model": TRAINED, "seed": 0, "count": 16, "columns": 4})
    assert shown_image(page, "#sample-image") == expected.content
    shoot(page, "sample")

    page.get_by_role("link", name="Interpolate from this seed").click()
    ready(page, "interpolate")
    assert page.locator("#interpolate-model").input_value() == TRAINED
    page.get_by_label("Frame", exact=True).focus()
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    assert page.locator("#interpolate-frame-label").inner_text() == "8 / 16"
    shoot(page, "interpolate")

    # Models: every model with its figures; an older checkpoint is one click from sampling.
    page.get_by_role("navigation").get_by_role("link", name="Models").click()
    ready(page, "models")
    card = page.locator(f"#model-{TRAINED}")
    assert "Fréchet distance" in card.inner_text()
    card.get_by_label(re.compile(r"^Checkpoint")).select_option("400")
    card.get_by_text("Quality and samples over training").click()
    page.wait_for_selector(f"#model-{TRAINED} .timeline figcaption:has-text('After 1,200 steps')")
    assert int(card.locator(".quality-charts").get_attribute("data-points") or 0) == 6
    assert "At step 400 from 64 generated images" in card.locator(".figures-box").inner_text()
    shoot(page, "models")
    card.get_by_role("link", name=f"Sample {TRAINED}@400").click()
    ready(page, "sample")
    assert sample.get_by_label("Checkpoint").input_value() == "400"
    wait_loaded(page, "sample-stage")
    pinned = stack.http.get(
        "/sample", params={"model": f"{TRAINED}@400", "seed": 0, "count": 16, "columns": 4}
    )
    assert shown_image(page, "#sample-image") == pinned.content


def test_cancel_a_running_job_from_its_page(page: Any, stack: Stack) -> None:
    job = stack.http.post(
        "/train",
        headers={"Authorization": f"Bearer {API_KEY}"},
        json={
            "dataset": "digits",
            "architecture": "dcgan",
            "g_width": 4,
            "d_width": 4,
            "latent_dim": 8,
            "batch_size": 16,
            "steps": 200_000,
            "eval_samples": 0,
            "name": "browser-cancel",
        },
    ).json()
    page.goto(f"/#jobs?job={job['id']}")
    ready(page, "jobs")
    page.wait_for_selector("#job-detail[data-status=running]", state="attached")
    page.get_by_role("button", name="Cancel training").click()
    enter_key(page, API_KEY)
    page.wait_for_selector("#job-detail[data-status=cancelled]", state="attached", timeout=60_000)
    assert page.locator("#job-detail .badge").inner_text() == "Cancelled"
    assert page.get_by_role("button", name="Cancel training").is_hidden()
    assert stack.http.get(f"/jobs/{job['id']}").json()["status"] == "cancelled"
