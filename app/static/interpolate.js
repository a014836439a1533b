// Interpolate: one GET /interpolate strip, cut into frames here using the X-Frame-* headers;
// the slider and play button only redraw the canvas, they never ask the server again.

import { copyLink, messageOf, parseSeed, randomSeed, request, showError, writeHash } from "./api.js";
import { ModelPicker } from "./picker.js";

const FRAME_DISPLAY = 320; // css pixels for the current frame
const FRAMES_PER_SECOND = 12;

export function createInterpolateView(ctx) {
  const $ = (id) => document.getElementById(id);
  const startInput = $("interpolate-start");
  const endInput = $("interpolate-end");
  const framesInput = $("interpolate-frames");
  const canvas = $("interpolate-canvas");
  const slider = $("interpolate-slider");
  const frameLabel = $("interpolate-frame-label");
  const play = $("interpolate-play");
  const strip = $("interpolate-strip");
  const stage = $("interpolate-stage");
  const error = $("interpolate-error");
  const empty = $("interpolate-empty");
  const download = $("interpolate-download");
  const picker = new ModelPicker("interpolate", () => load());

  let frames = null; // {bitmap, count, width, height, url}
  let loading = null; // AbortController of the strip in flight
  let timer = null;
  let direction = 1;
  let stripUrl = "";

  function mode() {
    return document.querySelector('input[name="interpolate-mode"]:checked').value;
  }

  function readInputs() {
    const maxSeed = ctx.options.limits.max_seed;
    const maxFrames = ctx.options.limits.max_frames;
    const start = parseSeed(startInput.value, maxSeed);
    const end = parseSeed(endInput.value, maxSeed);
    const count = Number(framesInput.value);
    const countOk = Number.isInteger(count) && count >= 2 && count <= maxFrames;
    const seedHint = "A seed is a whole number from 0 to 2⁶³−1.";
    showError($("interpolate-start-error"), start === null ? seedHint : "");
    showError($("interpolate-end-error"), end === null ? seedHint : "");
    showError($("interpolate-frames-error"), countOk ? "" : `Between 2 and ${maxFrames} frames.`);
    startInput.setAttribute("aria-invalid", String(start === null));
    endInput.setAttribute("aria-invalid", String(end === null));
    framesInput.setAttribute("aria-invalid", String(!countOk));
    return start !== null && end !== null && countOk ? { start, end, count } : null;
  }

  async function load() {
    const inputs = readInputs();
    if (!inputs || !picker.model()) return;
    const query = new URLSearchParams();
    const state = new URLSearchParams();
    picker.addTo(query, state);
    for (const [key, value] of [["start", inputs.start], ["end", inputs.end]]) {
      query.set(key, value);
      state.set(key, value);
    }
    query.set("steps", String(inputs.count));
    state.set("frames", String(inputs.count));
    query.set("mode", mode());
    state.set("mode", mode());
    writeHash("interpolate", state);
    const url = `interpolate?${query}`;
    if (url === stripUrl) return;
    stripUrl = url;
    download.href = url;
    download.download = `${picker.ref().replace("@", "-step")}-${inputs.start}-to-${inputs.end}.png`;

    if (loading) loading.abort();
    const controller = new AbortController();
    loading = controller;
    stage.setAttribute("aria-busy", "true");
    showError(error, "");
    try {
      const response = await request(url, { signal: controller.signal });
      const count = Number(response.headers.get("X-Frame-Count"));
      const width = Number(response.headers.get("X-Frame-Width"));
      const height = Number(response.headers.get("X-Frame-Height"));
      const blob = await response.blob();
      const bitmap = await createImageBitmap(blob);
      if (controller.signal.aborted) return;
      if (!(count >= 1 && width >= 1 && height >= 1) || bitmap.width < count * width) {
        throw new Error("the strip's frame headers do not match the image");
      }
      if (frames && frames.url) URL.revokeObjectURL(frames.url);
      const previous = frames ? Number(slider.value) / Math.max(1, frames.count - 1) : 0;
      frames = { bitmap, count, width, height, url: URL.createObjectURL(blob) };
      strip.src = frames.url;
      strip.alt = `${count} frames from seed ${inputs.start} to seed ${inputs.end}`;
      const factor = Math.max(1, Math.floor(Math.min(FRAME_DISPLAY, stage.clientWidth || FRAME_DISPLAY) / width));
      canvas.width = width * factor;
      canvas.height = height * factor;
      canvas.dataset.scale = String(factor);
      slider.max = String(count - 1);
      slider.disabled = false;
      play.disabled = false;
      showFrame(Math.round(previous * (count - 1)));
      canvas.hidden = false;
    } catch (problem) {
      if (problem && problem.name === "AbortError") return;
      frames = null;
      canvas.hidden = true;
      slider.disabled = true;
      play.disabled = true;
      stopPlaying();
      showError(error, messageOf(problem));
    } finally {
      if (loading === controller) {
        loading = null;
        stage.setAttribute("aria-busy", "false");
      }
    }
  }

  function showFrame(index) {
    if (!frames) return;
    const frame = Math.min(frames.count - 1, Math.max(0, index));
    const context = canvas.getContext("2d");
    context.imageSmoothingEnabled = false;
    context.clearRect(0, 0, canvas.width, canvas.height);
    context.drawImage(frames.bitmap, frame * frames.width, 0, frames.width, frames.height,
      0, 0, canvas.width, canvas.height);
    slider.value = String(frame);
    canvas.dataset.frame = String(frame);
    const text = `Frame ${frame + 1} of ${frames.count}`;
    frameLabel.textContent = `${frame + 1} / ${frames.count}`;
    slider.setAttribute("aria-valuetext", text);
    canvas.setAttribute("aria-label", text);
    strip.parentElement.style.setProperty("--frame", String(frame));
    strip.parentElement.style.setProperty("--frames", String(frames.count));
  }

  function stopPlaying() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    play.textContent = "Play";
  }

  function startPlaying() {
    if (!frames || frames.count < 2) return;
    play.textContent = "Pause";
    timer = setInterval(() => {
      let next = Number(slider.value) + direction;
      if (next >= frames.count || next < 0) { // walk back and forth
        direction = -direction;
        next = Number(slider.value) + direction;
      }
      showFrame(next);
    }, 1000 / FRAMES_PER_SECOND);
  }

  slider.addEventListener("input", () => {
    stopPlaying();
    showFrame(Number(slider.value));
  });
  play.addEventListener("click", () => (timer === null ? startPlaying() : stopPlaying()));
  strip.addEventListener("click", (event) => {
    if (!frames) return;
    stopPlaying();
    showFrame(Math.floor((event.offsetX / strip.clientWidth) * frames.count));
  });
  for (const input of [startInput, endInput, framesInput]) input.addEventListener("change", () => load());
  for (const radio of document.querySelectorAll('input[name="interpolate-mode"]')) {
    radio.addEventListener("change", () => load());
  }
  for (const [button, input] of [["interpolate-start-random", startInput], ["interpolate-end-random", endInput]]) {
    $(button).addEventListener("click", () => {
      input.value = randomSeed();
      load();
    });
  }
  $("interpolate-copy").addEventListener("click", () => copyLink($("interpolate-copy"), $("interpolate-link")));

  return {
    async enter(params) {
      const models = await ctx.loadModels();
      const maxSeed = ctx.options.limits.max_seed;
      framesInput.max = String(ctx.options.limits.max_frames);
      empty.hidden = models.some((m) => !m.error);
      empty.textContent = "No model to interpolate with yet: train one first.";
      picker.setModels(models, params, ctx.options.default_model);
      startInput.value = parseSeed(params.get("start"), maxSeed) ?? "0";
      endInput.value = parseSeed(params.get("end"), maxSeed) ?? "1";
      framesInput.value = params.get("frames") || "16";
      const wanted = params.get("mode") === "lerp" ? "interpolate-lerp" : "interpolate-slerp";
      $(wanted).checked = true;
      stripUrl = "";
      if (!frames) {
        slider.disabled = true;
        play.disabled = true;
      }
      await load();
      if (picker.notice && error.hidden) showError(error, picker.notice);
    },
    leave() {
      stopPlaying();
      if (loading) loading.abort();
    },
  };
}
