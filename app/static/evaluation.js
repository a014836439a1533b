// A job's final evaluation (the record's `evaluation`, common/evaluations.py) as sentences for
// its page: what each figure means is said beside it, since the figures alone mean little.

import { formatDuration, formatInteger, formatNumber, h } from "./api.js";

/** The job is judging its model: its last step is done, its record not final yet. */
export function isEvaluating(job) {
  return job.status === "running" && job.progress.phase === "evaluating";
}

function percent(share) {
  return `${(share * 100).toFixed(1)}%`;
}

// Evaluations take seconds, so tenths matter here, unlike in formatDuration.
function seconds(value) {
  return value < 60 ? `${value.toFixed(1)} s` : formatDuration(value);
}

function times(ratio) {
  return ratio < 100 ? `${ratio.toFixed(1)}x` : `${formatNumber(ratio)}x`;
}

function sentence(text) {
  const line = String(text || "").split("\n")[0];
  return line ? line[0].toUpperCase() + line.slice(1) : "";
}

function evaluatorText(evaluator, dataset) {
  const accuracy = `${percent(evaluator.heldout_accuracy)} on held-out images`;
  if (evaluator.kind === "shipped") return `the shipped ${dataset} evaluator, ${accuracy}`;
  if (evaluator.cached) return `an evaluator trained on this dataset, ${accuracy} (cached)`;
  return `an evaluator trained on this dataset in ${seconds(evaluator.train_seconds)}, ${accuracy}`;
}

function figures(evaluation) {
  const e = evaluation;
  const items = [];
  if (e.frechet_distance !== null && e.frechet_distance !== undefined) {
    items.push(h("li", { "data-figure": "fd" },
      "FD ", h("strong", {}, formatNumber(e.frechet_distance)),
      " against a floor of ", h("strong", {}, formatNumber(e.floor_frechet_distance)),
      ` (${times(e.fd_ratio)})`,
      h("small", {}, " — lower is better; the floor is real images against real images")));
  }
  if (e.classes_present !== null && e.classes_present !== undefined) {
    items.push(h("li", { "data-figure": "classes" }, "Classes present ",
      h("strong", {}, `${formatInteger(e.classes_present)} / ${formatInteger(e.num_classes)}`)));
  }
  if (e.label_accuracy !== null && e.label_accuracy !== undefined) {
    items.push(h("li", { "data-figure": "label-accuracy" }, "Label accuracy ",
      h("strong", {}, percent(e.label_accuracy)),
      h("small", {}, " images the evaluator classifies as the class asked for")));
  }
  if (e.memorization) {
    items.push(h("li", { "data-figure": "memorised" }, "Memorised ",
      h("strong", {}, percent(e.memorization.share)),
      ` (nearest training image in ${e.memorization.space}; a model that draws new images scores about 5%)`));
  }
  return items;
}

/**
 * What the "Final evaluation" section shows for `job`.
 *
 * Returns {state, nodes}: state is "none" (nothing to show: the section is hidden), "waiting",
 * "evaluating", "done", "no-fd", "skipped", "failed" or "none-recorded" (a job that succeeded
 * without one, e.g. before jobs were judged); nodes are the section's content.
 */
export function evaluationView(job) {
  const e = job.evaluation;
  const samples = job.config.eval_samples;
  if (!e) {
    if (isEvaluating(job)) {
      return { state: "evaluating", nodes: [h("p", { class: "status" },
        `The last step is done; the model is being judged on ${formatInteger(samples)} generated images…`)] };
    }
    if (job.status === "queued" || job.status === "running") {
      return { state: "waiting", nodes: [h("p", { class: "status" }, samples === 0
        ? "None asked for (Images per quality check is 0)."
        : `After the last step, the model is judged here on ${formatInteger(samples)} generated images.`)] };
    }
    if (job.status === "succeeded") {
      return { state: "none-recorded", nodes: [h("p", { class: "status" }, "This record has no final evaluation.")] };
    }
    return { state: "none", nodes: [] }; // failed or cancelled before the end: nothing was judged
  }
  if (e.status !== "done") {
    const lead = e.status === "skipped" ? "Not judged" : "The evaluation failed";
    return { state: e.status, nodes: [h("p", { class: "note", "data-figure": "reason" },
      `${lead}: ${String(e.reason || "no reason given").split("\n")[0]}`)] };
  }
  const hasFd = e.frechet_distance !== null && e.frechet_distance !== undefined;
  const about = [`${formatInteger(e.samples)} generated images against as many real ones`];
  if (e.evaluator) about.unshift(`Judged by ${evaluatorText(e.evaluator, job.config.dataset)}`);
  about.push(`in ${seconds(e.seconds || 0)}`);
  return {
    state: hasFd ? "done" : "no-fd",
    nodes: [
      e.reason ? h("p", { class: "note", "data-figure": "reason" }, sentence(e.reason)) : null,
      h("ul", { class: "evaluation-figures" }, figures(e)),
      h("p", { class: "hint", "data-figure": "evaluator" }, `${about.join(" · ")}.`),
    ],
  };
}

/** The job page's "Final evaluation": a heading and a box, redrawn only when what it says changes. */
export class EvaluationSection {
  constructor() {
    this.title = h("h3", {}, "Final evaluation");
    this.box = h("div", { class: "evaluation", id: "job-evaluation", "aria-live": "polite" });
    this.shown = null; // progress events come ten times a second; redrawing would lose a selection
  }

  show(job) {
    const key = JSON.stringify([job.status, job.progress.phase, job.evaluation, job.config.eval_samples]);
    if (key === this.shown) return;
    this.shown = key;
    const { state, nodes } = evaluationView(job);
    this.box.dataset.state = state;
    this.box.replaceChildren(...nodes.filter(Boolean));
    this.title.hidden = this.box.hidden = state === "none";
  }
}
