// The controls Sample and Interpolate share: model, checkpoint, class and truncation.
// Element ids follow one pattern (`<prefix>-model`, `<prefix>-checkpoint`, ...).

import { formatInteger, h } from "./api.js";

const ARCHITECTURE_NAMES = {
  gan: "GAN (fully connected)",
  cgan: "Conditional GAN (fully connected)",
  dcgan: "DCGAN (convolutional)",
  cdcgan: "Conditional DCGAN (convolutional)",
};

export function architectureName(name) {
  return ARCHITECTURE_NAMES[name] || name || "unknown architecture";
}

/** "28×28 grayscale, 10 classes" — what a model makes, in words. */
export function describeModel(model) {
  if (model.error) return `Cannot be served: ${model.error}`;
  const size = model.image_size ? `${model.image_size}×${model.image_size}` : "";
  const colour = model.channels === 1 ? "grayscale" : model.channels === 3 ? "colour" : "";
  const classes = model.conditional
    ? `${model.num_classes} classes${model.class_names ? ` (${model.class_names.join(", ")})` : ""}`
    : "unconditional";
  return [
    architectureName(model.architecture),
    [size, colour].filter(Boolean).join(" "),
    classes,
    model.dataset ? `trained on ${model.dataset}` : "",
    `${formatInteger(model.latest_step)} steps`,
  ].filter(Boolean).join(" · ");
}

export function classNames(model) {
  if (!model || !model.conditional) return [];
  return model.class_names || Array.from({ length: model.num_classes }, (_, i) => `class ${i}`);
}

/** "name@step" -> ["name", "step"]; "name" -> ["name", ""]. */
export function splitRef(ref) {
  const match = /^(.*)@(\d+)$/.exec(ref || "");
  return match ? [match[1], match[2]] : [ref || "", ""];
}

export class ModelPicker {
  constructor(prefix, onChange) {
    const get = (suffix) => document.getElementById(`${prefix}-${suffix}`);
    this.modelSelect = get("model");
    this.checkpointSelect = get("checkpoint");
    this.info = get("model-info");
    this.classField = get("class-field");
    this.classSelect = get("class");
    this.truncate = get("truncate");
    this.truncation = get("truncation");
    this.truncationValue = get("truncation-value");
    this.models = [];
    this.notice = "";
    this.onChange = onChange;

    this.modelSelect.addEventListener("change", () => {
      this.fillCheckpoints("");
      this.fillClasses("");
      onChange();
    });
    this.checkpointSelect.addEventListener("change", onChange);
    this.classSelect.addEventListener("change", onChange);
    this.truncate.addEventListener("change", () => {
      this.truncation.disabled = !this.truncate.checked;
      this.showTruncation();
      onChange();
    });
    // Dragging updates the label at once but asks for a new image only when released.
    this.truncation.addEventListener("input", () => this.showTruncation());
    this.truncation.addEventListener("change", onChange);
  }

  /** Fill the controls from the model list and the address bar's parameters. */
  setModels(models, params, defaultModel) {
    this.models = models;
    const [wantedName, wantedStep] = splitRef(params.get("model") || "");
    const servable = models.filter((m) => !m.error);
    const chosen = models.find((m) => m.name === wantedName && !m.error)
      || servable.find((m) => m.name === defaultModel) || servable[0];
    this.modelSelect.replaceChildren(...models.map((m) => h("option", {
      value: m.name, disabled: Boolean(m.error),
    }, m.name + (m.default ? " (default)" : "") + (m.error ? " (cannot be served)" : ""))));
    this.modelSelect.disabled = !servable.length;
    if (chosen) this.modelSelect.value = chosen.name;
    this.fillCheckpoints(chosen && wantedName === chosen.name ? wantedStep : "");
    // A shared link can outlive its model or checkpoint: say so instead of silently swapping.
    this.notice = "";
    if (wantedName && chosen && wantedName !== chosen.name) {
      this.notice = `There is no servable model "${wantedName}" here; showing ${chosen.name} instead.`;
    } else if (wantedStep && chosen && this.checkpointSelect.value !== String(Number(wantedStep))) {
      this.notice = `${chosen.name} has no checkpoint at step ${wantedStep}; showing the newest instead.`;
    }
    this.fillClasses(params.get("class") || "");
    const psi = Number.parseFloat(params.get("psi") || "");
    this.truncate.checked = Number.isFinite(psi);
    this.truncation.disabled = !this.truncate.checked;
    if (Number.isFinite(psi)) this.truncation.value = String(psi);
    this.showTruncation();
  }

  model() {
    return this.models.find((m) => m.name === this.modelSelect.value) || null;
  }

  fillCheckpoints(step) {
    const model = this.model();
    const steps = model ? [...model.checkpoints].reverse() : [];
    this.checkpointSelect.replaceChildren(
      h("option", { value: "" }, model ? `Newest (step ${formatInteger(model.latest_step)})` : "–"),
      ...steps.map((s) => h("option", { value: String(s) }, `Step ${formatInteger(s)}`)),
    );
    this.checkpointSelect.value = steps.includes(Number(step)) ? String(Number(step)) : "";
    this.checkpointSelect.disabled = steps.length < 2;
    this.info.textContent = model ? describeModel(model) : "";
  }

  fillClasses(value) {
    const names = classNames(this.model());
    this.classField.hidden = !names.length;
    this.classSelect.replaceChildren(
      h("option", { value: "" }, "Mixed: each seed picks its class"),
      ...names.map((name, i) => h("option", { value: String(i) }, name === String(i) ? name : `${i}: ${name}`)),
    );
    this.classSelect.value = names[Number(value)] !== undefined && value !== "" ? String(Number(value)) : "";
  }

  showTruncation() {
    this.truncationValue.textContent = this.truncate.checked
      ? Number(this.truncation.value).toFixed(2) : "off";
  }

  /** "name" or "name@step" for the `model` query parameter. */
  ref() {
    const model = this.model();
    if (!model) return "";
    return this.checkpointSelect.value ? `${model.name}@${this.checkpointSelect.value}` : model.name;
  }

  label() {
    return this.classField.hidden ? "" : this.classSelect.value;
  }

  psi() {
    return this.truncate.checked ? String(Number(this.truncation.value)) : "";
  }

  /** The query for GET /sample or /interpolate, and the page state for the address bar. */
  addTo(query, state) {
    query.set("model", this.ref());
    state.set("model", this.ref());
    if (this.label() !== "") {
      query.set("label", this.label());
      state.set("class", this.label());
    }
    if (this.psi()) {
      query.set("truncation", this.psi());
      state.set("psi", this.psi());
    }
  }
}
