// The page's entry point: loads the server's options, then shows the view the address names.
// Views live in their own modules; each has enter(params) and leave().

import { getJSON, messageOf, readHash, rememberedParams, showError, writeHash } from "./api.js";
import { createInterpolateView } from "./interpolate.js";
import { createJobsView } from "./jobs.js";
import { createModelsView } from "./models.js";
import { createSampleView } from "./sample.js";
import { createTrainView } from "./train.js";

const banner = document.getElementById("banner");

// Whatever breaks, people see a sentence, never a stack trace (that goes to the console).
window.addEventListener("error", (event) => {
  console.error(event.error || event.message);
  showError(banner, "Something went wrong in this page. Reloading it usually helps.");
});
window.addEventListener("unhandledrejection", (event) => {
  showError(banner, messageOf(event.reason));
});

async function start() {
  let options;
  try {
    options = await getJSON("ui/options");
  } catch (error) {
    showError(banner, `The server is not answering: ${messageOf(error)}`);
    document.body.dataset.ready = "error";
    return;
  }
  const ctx = {
    options,
    /** The model list, fresh: a model appears as soon as its first checkpoint is written.
     *  One page of the listing's largest size: the pickers offer every model. */
    loadModels: () => getJSON("models?limit=1000"),
  };
  const views = {
    sample: createSampleView(ctx),
    interpolate: createInterpolateView(ctx),
    train: createTrainView(ctx),
    jobs: createJobsView(ctx),
    models: createModelsView(ctx),
  };
  let current = null;
  let generation = 0;

  async function show(moveFocus) {
    const { view } = readHash();
    let { params } = readHash();
    const name = views[view] ? view : "sample";
    if (![...params.keys()].length && rememberedParams(name).toString()) {
      params = rememberedParams(name);
      writeHash(name, params);
    }
    const mine = ++generation;
    if (current && current !== name) views[current].leave();
    for (const section of document.querySelectorAll("section.view")) {
      section.hidden = section.dataset.view !== name;
    }
    for (const link of document.querySelectorAll("nav a[data-view]")) {
      if (link.dataset.view === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const title = document.getElementById(`${name}-title`);
    document.title = `${title.textContent} · ganserve`;
    if (moveFocus && current !== name) title.focus({ preventScroll: false });
    current = name;
    showError(banner, "");
    document.body.dataset.ready = "loading";
    try {
      await views[name].enter(params);
    } catch (error) {
      showError(banner, messageOf(error));
    }
    if (mine === generation) document.body.dataset.ready = name;
  }

  window.addEventListener("hashchange", () => show(true));
  await show(false);
}

start();
