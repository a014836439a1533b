// Models: every servable model with its quality figures and checkpoints; any checkpoint can be
// sampled (`model=name@step`).

import { formatInteger, formatNumber, formatWhen, getJSON, h } from "./api.js";
import { drawQuality, loadCheckpointMetrics, QUALITY_FIGURES } from "./history.js";
import { describeModel } from "./picker.js";
import { markTiles } from "./sample.js";
import { modelTimelineSource, Timeline } from "./timeline.js";

const PREVIEW_TILES = 8;
const PREVIEW_COLUMNS = 4;

function qualityTable(quality, step) {
  if (!quality) return h("p", { class: "hint" }, `No quality figures were recorded at step ${formatInteger(step)}.`);
  const rows = QUALITY_FIGURES.filter(([key]) => quality[key] !== null && quality[key] !== undefined)
    .map(([key, title, hint]) => {
      let value = formatNumber(quality[key]);
      if (key === "classes_present" && quality.num_classes) value = `${quality[key]} of ${quality.num_classes}`;
      if (key === "label_accuracy") value = `${(quality[key] * 100).toFixed(1)}%`;
      const arrow = hint.startsWith("lower") ? "↓" : "↑";
      return h("div", {}, h("dt", {}, h("span", {}, title), h("span", { title: hint, "aria-label": hint }, arrow)),
        h("dd", {}, value));
    });
  const basis = quality.num_generated ? ` from ${formatInteger(quality.num_generated)} generated images` : "";
  return h("div", {}, h("dl", { class: "figures", "aria-label": `Quality at step ${step}` }, ...rows),
    h("p", { class: "hint" }, `At step ${formatInteger(step)}${basis}. ↓ lower is better, ↑ higher is better.`));
}

/** The quality figures recorded with one checkpoint (the listing only has the newest's). */
async function checkpointQuality(name, step) {
  try {
    const detail = await getJSON(`models/${encodeURIComponent(name)}/checkpoints/${step}`);
    const quality = detail.metrics && detail.metrics.quality;
    return quality && typeof quality === "object" ? quality : null;
  } catch {
    return null;
  }
}

function modelCard(model, maxCount) {
  const name = model.name;
  const tiles = Math.min(PREVIEW_TILES, maxCount);
  const preview = h("img", { class: "preview", loading: "lazy", alt: "" });
  const checkpoint = h("select", { id: `model-${name}-checkpoint` },
    ...[...model.checkpoints].reverse().map((step) => h("option", { value: String(step) },
      step === model.latest_step ? `Step ${formatInteger(step)} (newest)` : `Step ${formatInteger(step)}`)));
  const sample = h("a", { class: "button primary" }, "Sample");
  const interpolate = h("a", { class: "button" }, "Interpolate");
  const caption = h("p", { class: "hint preview-caption" });
  const tiled = h("span", { class: "tiles" }, preview);
  const columns = Math.min(PREVIEW_COLUMNS, tiles);
  markTiles(tiled, columns, Math.ceil(tiles / columns));

  const figures = h("div", { class: "figures-box" }, qualityTable(model.quality, model.latest_step));

  async function chooseCheckpoint() {
    const step = Number(checkpoint.value);
    const ref = step === model.latest_step ? name : `${name}@${step}`;
    const query = new URLSearchParams({ model: ref, seed: "0", count: String(tiles),
      columns: String(columns) });
    preview.src = `sample?${query}`;
    preview.alt = `Seeds 0 to ${tiles - 1} of ${ref}`;
    caption.textContent = `Seeds 0–${tiles - 1} at step ${formatInteger(step)}`;
    sample.href = `#sample?${new URLSearchParams({ model: ref, grid: "4" })}`;
    sample.setAttribute("aria-label", `Sample ${ref}`);
    interpolate.href = `#interpolate?${new URLSearchParams({ model: ref })}`;
    interpolate.setAttribute("aria-label", `Interpolate with ${ref}`);
    const quality = step === model.latest_step ? model.quality : await checkpointQuality(name, step);
    if (Number(checkpoint.value) === step) figures.replaceChildren(qualityTable(quality, step));
  }
  checkpoint.addEventListener("change", chooseCheckpoint);
  preview.addEventListener("error", () => {
    preview.hidden = true;
    caption.textContent = "The preview could not be rendered.";
  });
  preview.addEventListener("load", () => { preview.hidden = false; });

  const history = h("div", { class: "quality-charts" });
  const timelineBox = h("div", { class: "timeline" });
  const more = h("details", { class: "model-history" },
    h("summary", {}, "Quality and samples over training"),
    h("h3", {}, "Quality at each checkpoint"), history,
    h("h3", {}, "Timeline"), timelineBox);
  let loaded = false;
  more.addEventListener("toggle", async () => {
    if (!more.open || loaded) return;
    loaded = true;
    const byStep = new Map();
    history.replaceChildren(h("p", { class: "chart-empty" }, "Loading…"));
    await loadCheckpointMetrics(name, model.checkpoints, (step, metrics) => {
      if (metrics.quality && typeof metrics.quality === "object") byStep.set(step, metrics.quality);
    });
    drawQuality(history, new Map([...byStep].sort((a, b) => a[0] - b[0])),
      "No quality figures were recorded for this model.");
    const timeline = new Timeline(timelineBox, modelTimelineSource(model));
    await timeline.refresh();
  });

  const badges = [
    model.default ? h("span", { class: "badge status-succeeded" }, "default") : null,
    h("span", { class: "badge" }, model.source),
    model.error ? h("span", { class: "badge status-failed" }, "cannot be served") : null,
  ];
  const card = h("article", { class: "panel model-card", id: `model-${name}`, "aria-labelledby": `model-${name}-title` },
    h("div", { class: "card-head" }, h("h2", { id: `model-${name}-title` }, name), ...badges),
    h("p", { class: "meta" }, describeModel(model)),
    model.error ? null : h("div", { class: "preview-wrap" }, tiled, caption),
    model.error ? null : figures,
    model.error ? null : h("div", { class: "field" },
      h("label", { for: `model-${name}-checkpoint` }, `Checkpoint (${model.checkpoints.length})`), checkpoint),
    model.error ? null : h("div", { class: "actions" }, sample, interpolate),
    model.broken_checkpoints.length ? h("p", { class: "hint" }, "Unreadable checkpoints: ",
      model.broken_checkpoints.map((b) => `step ${formatInteger(b.step)}`).join(", ")) : null,
    h("p", { class: "hint" }, `Created ${formatWhen(model.created_at)}`),
    more,
  );
  if (!model.error) chooseCheckpoint();
  return card;
}

export function createModelsView(ctx) {
  const list = document.getElementById("model-list");
  const empty = document.getElementById("model-list-empty");

  return {
    async enter(params) {
      const models = await ctx.loadModels();
      list.replaceChildren(...models.map((m) => modelCard(m, ctx.options.limits.max_count)));
      empty.hidden = models.length > 0;
      const wanted = params.get("model");
      const card = wanted && document.getElementById(`model-${wanted.split("@")[0]}`);
      if (card) {
        card.classList.add("highlight");
        card.scrollIntoView({ block: "start" });
        card.querySelector("details").open = true;
      }
    },
    leave() {},
  };
}
