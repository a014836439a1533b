// Sample: a seeded image or grid from GET /sample, shown as soon as any control changes.

import { copyLink, imageProblem, parseSeed, randomSeed, showError, writeHash } from "./api.js";
import { ModelPicker } from "./picker.js";

const GRIDS = [1, 2, 3, 4, 6, 8];
const MAX_DISPLAY = 512; // css pixels; small images are scaled up by whole factors, crisply

/** Scale an image up by the largest whole factor that fits, so pixels stay square and sharp. */
export function fitPixels(image, stage) {
  const room = Math.min(MAX_DISPLAY, stage.clientWidth || MAX_DISPLAY);
  const natural = image.naturalWidth;
  if (!natural) return;
  const factor = Math.max(1, Math.floor(room / natural));
  image.style.width = `${Math.min(natural * factor, room)}px`;
}

/** Thin lines between the tiles of a grid image, so a person sees separate images. */
export function markTiles(wrapper, columns, rows) {
  wrapper.classList.toggle("gridded", columns * rows > 1);
  wrapper.style.setProperty("--columns", String(columns));
  wrapper.style.setProperty("--rows", String(rows));
}

export function createSampleView(ctx) {
  const $ = (id) => document.getElementById(id);
  const seedInput = $("sample-seed");
  const grid = $("sample-grid");
  const image = $("sample-image");
  const tiles = $("sample-tiles");
  const stage = $("sample-stage");
  const caption = $("sample-caption");
  const error = $("sample-error");
  const empty = $("sample-empty");
  const download = $("sample-download");
  const toInterpolate = $("sample-to-interpolate");
  const picker = new ModelPicker("sample", () => render());
  let shownUrl = "";

  function fillGrids(limit) {
    grid.replaceChildren(...GRIDS.filter((n) => n * n <= limit).map((n) => {
      const option = document.createElement("option");
      option.value = String(n);
      option.textContent = n === 1 ? "1 image" : `${n} × ${n} (${n * n} images)`;
      return option;
    }));
  }

  function render() {
    const model = picker.model();
    const seed = parseSeed(seedInput.value, ctx.options.limits.max_seed);
    showError($("sample-seed-error"), seed === null ? "A seed is a whole number from 0 to 2⁶³−1." : "");
    seedInput.setAttribute("aria-invalid", seed === null ? "true" : "false");
    if (!model || seed === null) return;

    const size = Number(grid.value) || 1;
    const query = new URLSearchParams();
    const state = new URLSearchParams();
    picker.addTo(query, state);
    query.set("seed", seed);
    state.set("seed", seed);
    if (size > 1) {
      query.set("count", String(size * size));
      query.set("columns", String(size));
      state.set("grid", String(size));
    }
    writeHash("sample", state);
    const url = `sample?${query}`;
    const last = (BigInt(seed) + BigInt(size * size - 1)).toString();
    caption.textContent = size === 1
      ? `Seed ${seed} of ${picker.ref()}`
      : `Seeds ${seed} to ${last} of ${picker.ref()}, left to right, top to bottom`;
    download.href = url;
    download.download = `${picker.ref().replace("@", "-step")}-seed${seed}${size > 1 ? `-${size}x${size}` : ""}.png`;
    toInterpolate.href = `#interpolate?${new URLSearchParams({
      model: picker.ref(), start: seed, end: (BigInt(seed) + 1n).toString(),
    })}`;
    if (url === shownUrl) return;
    shownUrl = url;
    showError(error, "");
    stage.setAttribute("aria-busy", "true");
    image.alt = caption.textContent;
    image.src = url;
    markTiles(tiles, size, size);
  }

  image.addEventListener("load", () => {
    stage.setAttribute("aria-busy", "false");
    image.hidden = false;
    fitPixels(image, stage);
  });
  image.addEventListener("error", async () => {
    if (!shownUrl) return;
    const failed = shownUrl;
    const message = await imageProblem(failed);
    if (failed !== shownUrl) return; // a newer image was asked for meanwhile
    stage.setAttribute("aria-busy", "false");
    image.hidden = true;
    showError(error, message);
  });
  window.addEventListener("resize", () => fitPixels(image, stage));

  seedInput.addEventListener("input", () => render());
  grid.addEventListener("change", () => render());
  $("sample-random").addEventListener("click", () => {
    seedInput.value = randomSeed();
    render();
  });
  $("sample-copy").addEventListener("click", () => copyLink($("sample-copy"), $("sample-link")));

  return {
    async enter(params) {
      const models = await ctx.loadModels();
      fillGrids(ctx.options.limits.max_count);
      empty.hidden = models.some((m) => !m.error);
      empty.replaceChildren("No model to sample from yet. ",
        Object.assign(document.createElement("a"), { href: "#train", textContent: "Train one" }),
        " and it appears here after its first checkpoint.");
      image.hidden = !empty.hidden;
      picker.setModels(models, params, ctx.options.default_model);
      seedInput.value = parseSeed(params.get("seed"), ctx.options.limits.max_seed) ?? "0";
      const size = params.get("grid") || "1";
      grid.value = GRIDS.includes(Number(size)) && grid.querySelector(`option[value="${Number(size)}"]`)
        ? String(Number(size)) : "1";
      shownUrl = "";
      render();
      if (!models.length) caption.textContent = "";
      if (picker.notice) showError(error, picker.notice);
    },
    leave() {},
  };
}
