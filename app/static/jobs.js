// Jobs: the list, and one job watched live over its Server-Sent Events stream.

import { formatDuration, formatInteger, formatWhen, getJSON, h, messageOf, request,
  showError, writeHash } from "./api.js";
import { EvaluationSection, isEvaluating } from "./evaluation.js";
import { JobCharts } from "./history.js";
import { jobTimelineSource, Timeline } from "./timeline.js";

const MAX_STREAMS = 4; // browsers allow ~6 connections per server; leave room for images
const LIST_REFRESH_MS = 5000;
const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const STATUS_TEXT = {
  queued: "Queued", running: "Running", succeeded: "Finished", failed: "Failed", cancelled: "Cancelled",
};

function statusText(job) {
  return isEvaluating(job) ? "Evaluating" : STATUS_TEXT[job.status];
}

function progressText(job) {
  const p = job.progress;
  if (job.status === "queued") return "Waiting for a worker";
  const parts = [`step ${formatInteger(p.step)} of ${formatInteger(p.total_steps || job.config.steps)}`];
  if (isEvaluating(job)) {
    parts.push("judging the model");
  } else if (job.status === "running") {
    if (p.images_per_second) parts.push(`${formatInteger(Math.round(p.images_per_second))} images/s`);
    if (p.eta_seconds !== null && p.eta_seconds !== undefined) parts.push(`${formatDuration(p.eta_seconds)} left`);
  } else if (job.finished_at) {
    parts.push(`${STATUS_TEXT[job.status].toLowerCase()} ${formatWhen(job.finished_at)}`);
  }
  return parts.join(" · ");
}

function speedText(job) {
  if (job.status === "running") {
    const rate = job.progress.images_per_second;
    return rate ? `${formatInteger(Math.round(rate))} images/s` : "measuring…";
  }
  // Finished: images seen over the whole attempt (start-up included), so a fair overall figure.
  const seconds = (job.finished_at || 0) - (job.started_at || 0);
  const images = job.progress.step * (job.config.batch_size || 0) * (job.config.d_steps || 1);
  return seconds > 0 && images > 0 ? `${formatInteger(Math.round(images / seconds))} images/s` : "–";
}

function fraction(job) {
  const total = job.progress.total_steps || job.config.steps || 1;
  return job.status === "succeeded" ? 1 : Math.min(1, job.progress.step / total);
}

function oneLine(text, limit = 400) {
  const line = String(text || "").split("\n")[0];
  return line.length > limit ? `${line.slice(0, limit)}…` : line;
}

export function createJobsView() {
  const $ = (id) => document.getElementById(id);
  const list = $("job-list");
  const listEmpty = $("job-list-empty");
  const detail = $("job-detail");
  const jobs = new Map();
  const rows = new Map();
  const streams = new Map();
  let selected = null; // {id, parts, charts, timeline}
  let refreshTimer = null;
  let active = false;
  let shown = []; // the jobs in the list, newest first

  function row(job) {
    let parts = rows.get(job.id);
    if (!parts) {
      const name = h("span", { class: "job-name" });
      const badge = h("span", { class: "badge" });
      const bar = h("progress", { max: "1", "aria-label": `Progress of ${job.model}` });
      const text = h("span", { class: "job-progress-text" });
      const link = h("a", { href: `#jobs?job=${job.id}`, class: "job-link" },
        h("span", { class: "job-line" }, name, badge), bar, text);
      parts = { item: h("li", {}, link), link, name, badge, bar, text };
      rows.set(job.id, parts);
    }
    parts.name.textContent = job.model;
    parts.badge.textContent = statusText(job);
    parts.badge.className = `badge status-${job.status}`;
    parts.bar.value = fraction(job);
    parts.text.textContent = job.status === "failed" ? `failed: ${oneLine(job.error, 80)}` : progressText(job);
    parts.link.toggleAttribute("aria-current", Boolean(selected && selected.id === job.id));
    return parts.item;
  }

  async function refreshList() {
    let all;
    try {
      all = await getJSON("jobs");
    } catch (error) {
      showError(listEmpty, messageOf(error));
      return;
    }
    if (!active) return;
    for (const job of all) {
      // A stream's news is fresher than a list answer that was already on its way.
      const known = jobs.get(job.id);
      if (!known || job.updated_at >= known.updated_at) jobs.set(job.id, job);
    }
    shown = all.slice(0, 50).map((job) => jobs.get(job.id));
    const items = shown.map(row);
    // Only touch the list when its order changed: re-inserting a focused link drops the focus.
    if (items.length !== list.children.length || items.some((item, i) => list.children[i] !== item)) {
      list.replaceChildren(...items);
    }
    listEmpty.hidden = shown.length > 0;
    detail.hidden = !shown.length;
    if (!shown.length) listEmpty.replaceChildren("No jobs yet. ", h("a", { href: "#train" }, "Train a model"),
      " to see it here.");
    watchUnfinished();
  }

  function watchUnfinished() {
    const wanted = shown.filter((job) => !FINAL.has(job.status)).map((job) => job.id);
    if (selected && !FINAL.has(jobs.get(selected.id)?.status)) wanted.unshift(selected.id);
    const keep = new Set(wanted.slice(0, MAX_STREAMS));
    for (const [id, source] of streams) {
      if (!keep.has(id)) {
        source.close();
        streams.delete(id);
      }
    }
    for (const id of keep) if (!streams.has(id)) openStream(id);
  }

  function openStream(id) {
    const source = new EventSource(`jobs/${encodeURIComponent(id)}/events`);
    streams.set(id, source);
    const take = (event) => {
      const job = JSON.parse(event.data);
      if (job && job.id) update(job);
    };
    // progress and state carry the job; sample (a new timeline grid) and source are not used here
    source.addEventListener("progress", take);
    source.addEventListener("state", take);
    source.addEventListener("end", (event) => {
      take(event);
      source.close(); // otherwise EventSource reconnects to a stream that is over
      streams.delete(id);
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) streams.delete(id);
      // else the browser reconnects by itself, sending Last-Event-ID: the stream resumes there
    });
  }

  function update(job) {
    const known = jobs.get(job.id);
    if (known && known.updated_at > job.updated_at) return;
    jobs.set(job.id, job);
    if (rows.has(job.id)) row(job);
    if (selected && selected.id === job.id) showJob(job);
  }

  function select(id) {
    if (selected && selected.id === id) return;
    if (selected) selected.timeline.stop();
    for (const parts of rows.values()) parts.link.removeAttribute("aria-current");
    rows.get(id)?.link.setAttribute("aria-current", "true");
    const stat = (label) => {
      const value = h("dd", {});
      return [h("div", {}, h("dt", {}, label), value), value];
    };
    const [stepItem, step] = stat("Step");
    const [speedItem, speed] = stat("Speed");
    const [etaItem, eta] = stat("Time left");
    const [estimateItem, estimate] = stat("Estimated");
    const [elapsedItem, elapsed] = stat("Running for");
    const parts = {
      title: h("h2", { class: "job-title" }),
      badge: h("span", { class: "badge" }),
      meta: h("p", { class: "meta" }),
      bar: h("progress", { max: "1", "aria-label": "Training progress" }),
      percent: h("span", { class: "percent" }),
      step, speed, eta, estimate, elapsed, etaLabel: etaItem.querySelector("dt"),
      speedLabel: speedItem.querySelector("dt"),
      elapsedLabel: elapsedItem.querySelector("dt"),
      error: h("p", { class: "error-box", role: "alert", hidden: true }),
      note: h("p", { class: "note", hidden: true }),
      cancel: h("button", { type: "button", class: "danger", onclick: () => cancel(id) }, "Cancel training"),
      sample: h("a", { class: "button primary", hidden: true }),
      model: h("a", { class: "button", hidden: true }, "Model and checkpoints"),
      evaluation: new EvaluationSection(),
      config: h("pre", { class: "config" }),
    };
    const lossChart = h("div", { class: "chart-box", id: "job-loss-chart" });
    const qualityCharts = h("div", { class: "quality-charts", id: "job-quality-charts" });
    const timelineBox = h("div", { class: "timeline", id: "job-timeline" });
    detail.replaceChildren(
      h("div", { class: "job-head" }, parts.title, parts.badge),
      parts.meta,
      h("div", { class: "progress-line" }, parts.bar, parts.percent),
      h("dl", { class: "stats" }, stepItem, speedItem, etaItem, estimateItem, elapsedItem),
      parts.error, parts.note,
      h("div", { class: "actions" }, parts.cancel, parts.sample, parts.model),
      parts.evaluation.title, parts.evaluation.box,
      h("h3", {}, "Losses"), lossChart,
      h("h3", {}, "Quality"), qualityCharts,
      h("h3", {}, "Timeline: the same noise after more and more training"), timelineBox,
      h("details", { class: "config-details" }, h("summary", {}, "Training config"), parts.config),
    );
    const job = jobs.get(id);
    selected = {
      id, parts,
      charts: new JobCharts(lossChart, qualityCharts),
      timeline: new Timeline(timelineBox, jobTimelineSource(id)),
    };
    if (job) {
      showJob(job);
      selected.charts.loadHistory(job);
    }
  }

  function showJob(job) {
    const { parts, charts, timeline } = selected;
    const c = job.config;
    const finished = FINAL.has(job.status);
    const sampleable = job.checkpoint_step !== null && job.checkpoint_step !== undefined;
    detail.dataset.status = job.status;
    detail.dataset.step = String(job.progress.step);
    detail.dataset.phase = job.progress.phase || "training";
    parts.title.textContent = job.model;
    parts.badge.textContent = statusText(job);
    parts.badge.className = `badge status-${job.status}`;
    parts.meta.textContent = [c.dataset, c.architecture, `${c.loss} loss`, `batch ${c.batch_size}`,
      job.started_at ? `started ${formatWhen(job.started_at)}` : `submitted ${formatWhen(job.created_at)}`,
    ].join(" · ");
    parts.bar.value = fraction(job);
    parts.percent.textContent = `${Math.floor(fraction(job) * 100)}%`;
    parts.step.textContent = `${formatInteger(job.progress.step)} / ${formatInteger(job.progress.total_steps || c.steps)}`;
    parts.speedLabel.textContent = finished ? "Average speed" : "Speed";
    parts.speed.textContent = speedText(job);
    parts.etaLabel.textContent = finished ? "Finished" : "Time left";
    parts.eta.textContent = finished ? formatWhen(job.finished_at)
      : job.status === "queued" ? "waiting for a worker"
        : isEvaluating(job) ? "training done, judging the model"
          : job.progress.eta_seconds === null || job.progress.eta_seconds === undefined ? "estimating…"
            : formatDuration(job.progress.eta_seconds);
    const end = job.finished_at || Date.now() / 1000;
    parts.elapsedLabel.textContent = finished ? "Took" : "Running for";
    parts.elapsed.textContent = job.started_at ? formatDuration(end - job.started_at) : "–";
    // The plan's figure at submission, beside the actual duration; null: that shape never ran here.
    parts.estimate.textContent = job.estimate_seconds === null || job.estimate_seconds === undefined
      ? "not measured yet" : formatDuration(job.estimate_seconds);
    parts.evaluation.show(job);
    showError(parts.error, job.status === "failed" ? `Training failed: ${oneLine(job.error)}` : "");
    const kept = sampleable ? " The checkpoints it wrote can still be sampled." : "";
    showError(parts.note, job.status === "cancelled"
      ? `Cancelled${job.error ? `: ${oneLine(job.error)}` : ""}.${kept}` : "");
    parts.cancel.hidden = finished;
    parts.sample.hidden = !sampleable;
    parts.sample.textContent = job.status === "succeeded" ? "Sample this model" : "Sample the newest checkpoint";
    parts.sample.href = `#sample?${new URLSearchParams({ model: job.model })}`;
    parts.model.hidden = !sampleable;
    parts.model.href = `#models?${new URLSearchParams({ model: job.model })}`;
    parts.config.textContent = JSON.stringify(c, null, 2);
    charts.add(job);
    timeline.follow(job);
  }

  async function cancel(id) {
    const parts = selected && selected.id === id ? selected.parts : null;
    if (parts) parts.cancel.disabled = true;
    try {
      update(await (await request(`jobs/${encodeURIComponent(id)}/cancel`, { method: "POST" })).json());
    } catch (error) {
      if (parts) showError(parts.error, messageOf(error));
    } finally {
      if (parts) parts.cancel.disabled = false;
    }
  }

  return {
    async enter(params) {
      active = true;
      await refreshList();
      const wanted = params.get("job") || (shown.length ? shown[0].id : null);
      if (wanted && jobs.has(wanted)) {
        select(wanted);
        writeHash("jobs", new URLSearchParams({ job: wanted }));
        watchUnfinished();
      } else if (wanted) {
        detail.replaceChildren(h("p", { class: "error-box" }, `There is no job ${wanted} on this server.`));
      }
      clearInterval(refreshTimer);
      refreshTimer = setInterval(refreshList, LIST_REFRESH_MS);
    },
    leave() {
      active = false;
      clearInterval(refreshTimer);
      refreshTimer = null;
      for (const source of streams.values()) source.close();
      streams.clear();
      if (selected) selected.timeline.stop();
      selected = null;
    },
  };
}
