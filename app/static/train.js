// Train: the common POST /train fields, filled in from the server's plan for the chosen dataset
// (POST /train/plan: the recipe's choices and the measured duration). Only the fields the user
// edits are sent, so everything else stays the recipe's. The server is the judge of a config:
// its 422 messages are shown next to the fields they name.

import {
  ApiError, fieldOfProblem, formatDuration, formatInteger, getJSON, h, messageOf, request, showError,
} from "./api.js";
import { architectureName } from "./picker.js";

const UPLOAD = "__upload__";
const INTEGER_FIELDS = ["steps", "batch_size", "image_size", "latent_dim", "g_width", "d_width",
  "checkpoint_every", "sample_every", "eval_samples", "seed"];
const FLOAT_FIELDS = ["lr_g", "lr_d"];
const CHOICE_FIELDS = ["dataset", "architecture", "loss", "divergence"];
const FIELDS = [...CHOICE_FIELDS, "name", ...INTEGER_FIELDS, ...FLOAT_FIELDS, "ema"];
const LOSS_NAMES = {
  minimax: "Minimax (the original GAN game)",
  nonsaturating: "Non-saturating (the usual choice)",
  lsgan: "Least squares (LSGAN)",
  hinge: "Hinge",
  "wgan-gp": "Wasserstein with gradient penalty",
  fgan: "f-GAN (pick a divergence)",
};

/** The form field a server message is about: the earliest field name it mentions. */
export function fieldOfMessage(message) {
  if (/needs divergence/.test(message)) return "divergence"; // fixed there, not in "loss"
  let best = null;
  let bestAt = Infinity;
  for (const field of FIELDS) {
    const match = new RegExp(`(^|[^A-Za-z0-9_])${field}([^A-Za-z0-9_]|$)`).exec(message);
    if (match && match.index < bestAt) {
      best = field;
      bestAt = match.index;
    }
  }
  return best;
}

export function createTrainView(ctx) {
  const $ = (id) => document.getElementById(id);
  const form = $("train-form");
  const dataset = $("train-dataset");
  const formError = $("train-error");
  const status = $("train-status");
  const submit = $("train-submit");
  const planBox = $("train-plan");
  let datasets = [];
  let filled = false;
  // Fields the user changed: sent as they are; every other field shows the plan's value.
  const edited = new Set();
  let planTimer = null;
  let planRound = 0;

  function describeDataset(info) {
    if (!info) return "";
    const parts = [];
    if (info.kind === "downloadable") parts.push("downloaded by the worker on first use");
    if (info.kind === "uploaded") parts.push(`uploaded, ${formatInteger(info.images)} images`);
    if (info.image_size) parts.push(`${info.image_size}×${info.image_size}`);
    if (info.channels) parts.push(info.channels === 1 ? "grayscale" : "colour");
    parts.push(info.num_classes
      ? `${info.num_classes} classes (${info.class_names.slice(0, 10).join(", ")}${info.num_classes > 10 ? ", …" : ""})`
      : "no labels");
    return parts.join(" · ");
  }

  function fillDatasets(selected) {
    const groups = [["builtin", "Built in"], ["downloadable", "Downloadable"], ["uploaded", "Uploaded"]];
    dataset.replaceChildren(
      ...groups.map(([kind, label]) => {
        const members = datasets.filter((d) => d.kind === kind);
        return members.length ? h("optgroup", { label },
          ...members.map((d) => h("option", { value: d.name }, d.name))) : null;
      }),
      h("option", { value: UPLOAD }, "Upload an image archive…"),
    );
    dataset.value = datasets.some((d) => d.name === selected) || selected === UPLOAD
      ? selected : (datasets[0] ? datasets[0].name : UPLOAD);
    datasetChanged();
  }

  function datasetChanged() {
    const uploading = dataset.value === UPLOAD;
    $("train-upload-fields").hidden = !uploading;
    $("train-dataset-info").textContent = uploading
      ? "Pick an archive of images below."
      : describeDataset(datasets.find((d) => d.name === dataset.value));
    schedulePlan();
  }

  function describePlan(plan) {
    const c = plan.config;
    const size = c.image_size ? `${c.image_size}×${c.image_size}` : "the loader's size";
    const what = `${architectureName(c.architecture)} at ${size}, ${formatInteger(c.steps)} steps`;
    const when = plan.estimate_seconds === null
      ? `duration unknown: ${plan.estimate}`
      : `about ${formatDuration(plan.estimate_seconds)} (${plan.estimate})`;
    return `Plan: ${what} · ${when}.`;
  }

  /** Show the plan's value in every field the user has not edited. */
  function showPlan(plan) {
    for (const field of [...INTEGER_FIELDS, ...FLOAT_FIELDS, "architecture", "loss", "divergence"]) {
      if (edited.has(field)) continue;
      const value = plan.config[field];
      $(`train-${field}`).value = value === null || value === undefined ? "" : String(value);
    }
    if (!edited.has("ema")) $("train-ema").checked = Boolean(plan.config.ema);
    lossChanged();
    planBox.textContent = describePlan(plan);
    planBox.dataset.steps = String(plan.config.steps);
  }

  function schedulePlan() {
    clearTimeout(planTimer);
    planTimer = setTimeout(refreshPlan, 250);
  }

  async function refreshPlan() {
    const round = ++planRound;
    if (dataset.value === UPLOAD || !dataset.value) {
      planBox.textContent = "The plan appears once the archive is uploaded.";
      return;
    }
    const body = collect(true);
    if (!body) return;
    try {
      const plan = await (await request("train/plan", { method: "POST", json: body })).json();
      if (round === planRound) showPlan(plan);
    } catch (error) {
      if (round !== planRound) return;
      planBox.textContent = error instanceof ApiError
        ? `This config cannot train yet: ${problemsOf(error).map((p) => p.message).join(" ")}`
        : messageOf(error);
    }
  }

  function fillDefaults() {
    const { architectures, losses, divergences, train_defaults: defaults } = ctx.options;
    $("train-architecture").replaceChildren(...architectures.map((a) => h("option", { value: a.name },
      architectureName(a.name) + (a.conditional ? ", needs labels" : ""))));
    $("train-loss").replaceChildren(...losses.map((name) => h("option", { value: name }, LOSS_NAMES[name] || name)));
    $("train-divergence").replaceChildren(...divergences.map((name) => h("option", { value: name }, name)));
    for (const field of [...INTEGER_FIELDS, ...FLOAT_FIELDS, "architecture", "loss"]) {
      const value = defaults[field];
      $(`train-${field}`).value = value === null || value === undefined ? "" : String(value);
    }
    $("train-ema").checked = Boolean(defaults.ema);
    $("train-name").value = "";
    edited.clear();
    $("train-steps").max = String(ctx.options.limits.max_train_steps);
    $("train-batch_size").max = String(ctx.options.limits.max_batch_size);
    lossChanged();
    clearErrors();
  }

  function lossChanged() {
    $("train-divergence-field").hidden = $("train-loss").value !== "fgan";
  }

  function clearErrors() {
    for (const element of form.querySelectorAll(".field-error")) showError(element, "");
    for (const element of form.querySelectorAll("[aria-invalid]")) element.removeAttribute("aria-invalid");
    showError(formError, "");
  }

  /** Show each message next to its field (opening "More options" if it hides one). */
  function showProblems(problems, fallbackField = null) {
    const general = [];
    let first = null;
    for (const { field, message } of problems) {
      const target = field || fieldOfMessage(message) || fallbackField;
      const box = target && $(`train-${target}-error`);
      if (!box) {
        general.push(message);
        continue;
      }
      showError(box, box.textContent ? `${box.textContent}\n${message}` : message);
      const input = $(`train-${target}`);
      input.setAttribute("aria-invalid", "true");
      const details = input.closest("details");
      if (details) details.open = true;
      first = first || input;
    }
    showError(formError, general.length ? general.join(" ") : "");
    if (first) first.focus();
    else if (general.length) formError.scrollIntoView({ block: "nearest" });
    const marked = problems.length - general.length;
    status.textContent = marked ? `Not started: ${marked === 1 ? "one field needs" : `${marked} fields need`} a fix.` : "";
  }

  function problemsOf(error) {
    if (error.errors && error.errors.length) {
      return error.errors.map((item) => ({
        field: fieldOfProblem(item).split(".")[0] || null, message: item.message || "invalid value",
      }));
    }
    return [{ field: null, message: error.message }];
  }

  /** The request body: the dataset, the name and the fields the user edited (the server's
   * recipe chooses the rest); null after marking inputs the browser could not parse
   * (quietly, for a plan). */
  function collect(quiet = false) {
    const body = {};
    const local = [];
    for (const field of CHOICE_FIELDS) {
      const input = $(`train-${field}`);
      if (field !== "dataset" && !edited.has(field)) continue;
      if (!input.closest("[hidden]") && input.value && input.value !== UPLOAD) body[field] = input.value;
    }
    const name = $("train-name").value.trim();
    if (name) body.name = name;
    for (const field of [...INTEGER_FIELDS, ...FLOAT_FIELDS]) {
      if (!edited.has(field)) continue;
      const input = $(`train-${field}`);
      if (input.validity.badInput) local.push({ field, message: "Enter a number." });
      else if (input.value.trim() !== "") body[field] = Number(input.value);
    }
    if (edited.has("ema")) body.ema = $("train-ema").checked;
    if (local.length) {
      if (!quiet) showProblems(local);
      return null;
    }
    return body;
  }

  for (const field of [...INTEGER_FIELDS, ...FLOAT_FIELDS, "architecture", "loss", "divergence", "ema"]) {
    $(`train-${field}`).addEventListener(field === "ema" || CHOICE_FIELDS.includes(field) ? "change" : "input", () => {
      edited.add(field);
      schedulePlan();
    });
  }

  async function upload() {
    const file = $("train-archive").files[0];
    const name = $("train-upload-name").value.trim();
    const problems = [];
    if (!file) problems.push({ field: "archive", message: "Choose an archive of images to upload." });
    if (!name) problems.push({ field: "upload-name", message: "Give the dataset a name." });
    if (problems.length) {
      showProblems(problems);
      return null;
    }
    const data = new FormData();
    data.append("name", name);
    data.append("file", file, file.name);
    status.textContent = `Uploading ${file.name}…`;
    try {
      const info = await (await request(`datasets?name=${encodeURIComponent(name)}`,
        { method: "POST", body: data })).json();
      datasets = await getJSON("datasets");
      fillDatasets(info.name);
      return info.name;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const aboutName = error.status === 409 || (error.status === 422 && /\bname\b/.test(error.message));
      const aboutFile = [400, 413, 415, 422].includes(error.status);
      const field = aboutName ? "upload-name" : aboutFile ? "archive" : null;
      showProblems([{ field, message: error.message }]);
      return null;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const body = collect();
    if (!body) return;
    submit.disabled = true;
    try {
      if (dataset.value === UPLOAD) {
        const uploaded = await upload();
        if (!uploaded) return;
        body.dataset = uploaded;
      }
      status.textContent = "Submitting…";
      const job = await (await request("train", { method: "POST", json: body })).json();
      status.textContent = `Queued ${job.model}.`;
      location.hash = `#jobs?job=${encodeURIComponent(job.id)}`;
    } catch (error) {
      if (error instanceof ApiError) {
        showProblems(problemsOf(error), error.status === 409 ? "name" : null);
      } else {
        showError(formError, messageOf(error));
      }
    } finally {
      submit.disabled = false;
      if (status.textContent.endsWith("…")) status.textContent = "";
    }
  });
  dataset.addEventListener("change", datasetChanged);
  $("train-loss").addEventListener("change", lossChanged);
  $("train-reset").addEventListener("click", () => {
    fillDefaults();
    fillDatasets(ctx.options.train_defaults.dataset);
  });
  $("train-name").placeholder = "automatic";

  return {
    async enter() {
      const chosen = dataset.value || ctx.options.train_defaults.dataset;
      datasets = await getJSON("datasets");
      if (!filled) {
        fillDefaults();
        filled = true;
      }
      fillDatasets(chosen);
      status.textContent = "";
    },
    leave() {},
  };
}
