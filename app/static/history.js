// Loss and quality curves of one model: history read from its checkpoints, then live points
// from the job's event stream as they arrive.

import { getJSON, h } from "./api.js";
import { lineChart } from "./plots.js";

const MAX_HISTORY_CHECKPOINTS = 40;
const qualityCells = new WeakMap(); // box -> Map(figure key -> {figure, chart})
const LOSS_NAMES = { loss_d: "discriminator", loss_g: "generator" };
export const QUALITY_FIGURES = [
  ["frechet_distance", "Fréchet distance", "lower is better"],
  ["class_kl", "Class imbalance (KL)", "lower is better"],
  ["classes_present", "Classes present", "higher is better"],
  ["label_accuracy", "Label accuracy", "higher is better"],
];

/** Up to `count` items spread evenly over `items`, always keeping the first and last. */
export function spread(items, count) {
  if (items.length <= count) return [...items];
  const picked = new Set();
  for (let i = 0; i < count; i++) picked.add(items[Math.round((i * (items.length - 1)) / (count - 1))]);
  return [...picked];
}

async function eachLimited(items, limit, work) {
  const queue = [...items];
  const runners = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    while (queue.length) await work(queue.shift());
  });
  await Promise.all(runners);
}

/** The loss values in a metrics record: every number except the bookkeeping fields. */
function lossesOf(metrics) {
  const out = {};
  for (const [key, value] of Object.entries(metrics || {})) {
    if (typeof value === "number" && key !== "step" && key !== "time") out[key] = value;
  }
  return out;
}

/** Quality figures by checkpoint step, from the checkpoint headers (a sample of them). */
export async function loadCheckpointMetrics(modelName, checkpoints, onRecord) {
  const name = encodeURIComponent(modelName);
  await eachLimited(spread(checkpoints, MAX_HISTORY_CHECKPOINTS), 4, async (step) => {
    try {
      const detail = await getJSON(`models/${name}/checkpoints/${step}`);
      if (detail.metrics) onRecord(step, detail.metrics);
    } catch {
      // an unreadable checkpoint leaves a gap in the curve, nothing more
    }
  });
}

/** Small charts, one per quality figure present in `byStep` (Map step -> figures). */
export function drawQuality(box, byStep, emptyText) {
  const figures = QUALITY_FIGURES.filter(([key]) =>
    [...byStep.values()].some((q) => typeof q[key] === "number"));
  if (!figures.length) {
    box.replaceChildren(h("p", { class: "chart-empty" }, emptyText));
    box.dataset.points = "0";
    return;
  }
  let cells = qualityCells.get(box);
  if (!cells) {
    cells = new Map();
    qualityCells.set(box, cells);
  }
  if (box.querySelector(".chart-empty")) box.replaceChildren();
  for (const [key, title, hint] of figures) {
    let cell = cells.get(key);
    if (!cell) {
      const chart = h("div", { class: "chart-box small" });
      cell = { figure: h("figure", { class: "mini-chart" },
        h("figcaption", {}, title, h("small", {}, hint)), chart), chart, title };
      cells.set(key, cell);
    }
    if (cell.figure.parentElement !== box) box.append(cell.figure);
    const points = [...byStep].filter(([, q]) => typeof q[key] === "number").map(([step, q]) => [step, q[key]]);
    lineChart(cell.chart, { title, height: 140, series: [{ name: title, points }] });
  }
  box.dataset.points = String([...byStep.keys()].length);
}

/** The charts of one job: loss curves and quality figures, redrawn at most once a frame. */
export class JobCharts {
  constructor(lossBox, qualityBox) {
    this.lossBox = lossBox;
    this.qualityBox = qualityBox;
    this.losses = new Map(); // step -> {loss_d, loss_g, ...}
    this.quality = new Map(); // step -> quality figures
    this.config = {};
    this.frame = null;
  }

  add(job) {
    this.config = job.config || {};
    if (job.progress.step > 0 && Object.keys(job.losses || {}).length) {
      this.losses.set(job.progress.step, job.losses);
    }
    if (job.quality && job.checkpoint_step !== null && job.checkpoint_step !== undefined) {
      this.quality.set(job.checkpoint_step, job.quality);
    }
    this.redraw();
  }

  /** Fill in what happened before the page was opened, from the model's checkpoints. */
  async loadHistory(job) {
    let model;
    try {
      model = await getJSON(`models/${encodeURIComponent(job.model)}`);
    } catch {
      return; // no checkpoint yet: the live points are all there is
    }
    await loadCheckpointMetrics(job.model, model.checkpoints, (step, metrics) => {
      const losses = lossesOf(metrics);
      if (Object.keys(losses).length && !this.losses.has(step)) this.losses.set(step, losses);
      if (metrics.quality && typeof metrics.quality === "object") this.quality.set(step, metrics.quality);
    });
    this.redraw();
  }

  redraw() {
    if (this.frame !== null) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.draw();
    });
  }

  draw() {
    const keys = [...new Set([...this.losses.values()].flatMap((l) => Object.keys(l)))].sort();
    lineChart(this.lossBox, {
      title: "Losses",
      emptyText: "The loss curves start with the first training steps.",
      series: keys.map((key) => ({
        name: LOSS_NAMES[key] ? `${LOSS_NAMES[key]} (${key})` : key,
        points: [...this.losses].filter(([, l]) => typeof l[key] === "number").map(([step, l]) => [step, l[key]]),
      })),
      legend: true,
    });
    const off = this.config.eval_samples === 0;
    drawQuality(this.qualityBox, this.quality, off
      ? "Quality figures are off for this job (images per quality check: 0)."
      : "Quality figures appear with each checkpoint, for datasets with an evaluator (digits, mnist5k, shapes).");
  }
}
