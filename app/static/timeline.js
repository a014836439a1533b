// The fixed-noise grids saved during training, side by side: the same seeds after more and
// more steps (the classic "after 100 / 1,000 / 5,000 steps" picture).

import { formatInteger, getJSON, h } from "./api.js";

const SHOWN = 6; // one row on a desktop; the rest behind "Show all"

/** Up to `count` steps: the first two, the last, and the rest spaced evenly on a log scale. */
export function pickSteps(steps, count = SHOWN) {
  if (steps.length <= count) return [...steps];
  const positive = steps.filter((s) => s > 0);
  const [low, high] = [positive[0], positive[positive.length - 1]];
  const chosen = new Set([steps[0], low, high]);
  const slots = count - chosen.size;
  for (let i = 1; i <= slots; i++) {
    const target = low * (high / low) ** (i / (slots + 1));
    let best = null;
    for (const step of positive) {
      if (chosen.has(step)) continue;
      if (best === null || Math.abs(Math.log(step / target)) < Math.abs(Math.log(best / target))) best = step;
    }
    if (best !== null) chosen.add(best);
  }
  return [...chosen].sort((a, b) => a - b);
}

export function stepCaption(step) {
  return step === 0 ? "Before training" : `After ${formatInteger(step)} step${step === 1 ? "" : "s"}`;
}

/**
 * A timeline in `box`. source: {list: async () => steps, url: (step) => image URL}.
 * `follow(job)` refreshes it when the job may have saved a new grid.
 */
export class Timeline {
  constructor(box, source) {
    this.box = box;
    this.source = source;
    this.steps = [];
    this.showAll = false;
    this.figures = new Map();
    this.lastKey = null;
    this.timer = null;
    this.stopped = false;
  }

  follow(job) {
    // A new grid comes with a checkpoint or every `sample_every` steps; asking every couple of
    // seconds while the job runs covers both without knowing the interval the engine chose.
    const running = job.status === "running" ? Math.floor(Date.now() / 2000) : "";
    const key = `${job.checkpoint_step}:${job.status}:${running}`;
    if (key === this.lastKey) return;
    this.lastKey = key;
    if (this.timer === null && !this.stopped) {
      // The grid file is written just after the step is reported; let it land first.
      this.timer = setTimeout(() => {
        this.timer = null;
        this.refresh();
      }, 250);
    }
  }

  async refresh() {
    try {
      this.steps = await this.source.list();
    } catch {
      return; // keep what is shown
    }
    if (!this.stopped) this.render();
  }

  render() {
    const steps = this.showAll ? this.steps : pickSteps(this.steps);
    this.box.dataset.grids = String(this.steps.length);
    if (!steps.length) {
      this.box.replaceChildren(h("p", { class: "chart-empty" }, "The first grid is saved when training starts."));
      return;
    }
    const strip = h("ol", { class: "timeline-strip" }, ...steps.map((step) => {
      let figure = this.figures.get(step);
      if (!figure) {
        figure = h("li", {}, h("figure", {},
          h("img", { src: this.source.url(step), alt: `Fixed-noise grid ${stepCaption(step).toLowerCase()}`,
            loading: "lazy" }),
          h("figcaption", {}, stepCaption(step))));
        this.figures.set(step, figure);
      }
      return figure;
    }));
    const hidden = this.steps.length - steps.length;
    const toggle = this.steps.length > SHOWN
      ? h("button", { type: "button", class: "link-button", onclick: () => {
        this.showAll = !this.showAll;
        this.render();
      } }, this.showAll ? "Show fewer" : `Show all ${this.steps.length} grids (${hidden} more)`)
      : null;
    this.box.replaceChildren(strip, toggle || "");
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
  }
}

export function jobTimelineSource(jobId) {
  const id = encodeURIComponent(jobId);
  return {
    list: async () => (await getJSON(`jobs/${id}/samples`)).map((link) => link.step),
    url: (step) => `jobs/${id}/samples/${step}`,
  };
}

export function modelTimelineSource(model) {
  const name = encodeURIComponent(model.name);
  return { list: async () => model.samples, url: (step) => `models/${name}/samples/${step}` };
}
