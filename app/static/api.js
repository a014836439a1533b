// Talking to the API (relative URLs, so the page works behind a path prefix), asking for the
// API key when the server wants one, and turning every failure into a sentence for people.

const KEY_STORAGE = "ganserve.apiKey";

/** An API answer that was not 2xx; `message` is fit to show, `detail` is the problem's `detail`
 * and `errors` its located problems (a 422's `{location, field, message}` items). */
export class ApiError extends Error {
  constructor(status, detail, message, errors) {
    super(message || describeDetail(detail, status));
    this.status = status;
    this.detail = detail;
    this.errors = Array.isArray(errors) ? errors : [];
  }
}

/** A problem's `detail` (a sentence), or a sentence for the status when there is none. */
export function describeDetail(detail, status) {
  if (typeof detail === "string" && detail) return detail;
  if (status === 0) return "Could not reach the server. Check the connection and try again.";
  if (status >= 500) return `The server could not answer (HTTP ${status}). Try again in a moment.`;
  return `The request was refused (HTTP ${status}).`;
}

/** The request field a validation problem is about, e.g. `steps` (or "" for the whole request). */
export function fieldOfProblem(item) {
  return item && typeof item.field === "string" ? item.field : "";
}

/** The problem+json body of an error answer, or {} (e.g. a proxy's HTML page: never shown raw). */
async function readProblem(response) {
  try {
    const body = await response.json();
    return body && typeof body === "object" ? body : {};
  } catch {
    return {};
  }
}

let pendingKeyPrompt = null;

/** Ask for the API key in the page's dialog; resolves to the key, or null if cancelled. */
function askForKey(detail, hadKey) {
  if (pendingKeyPrompt) return pendingKeyPrompt; // concurrent 401s share one prompt
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  const message = document.getElementById("key-message");
  message.textContent = hadKey
    ? "That API key was not accepted. Check it and try again."
    : (typeof detail === "string" && detail.startsWith("API key required")
      ? "This server asks for an API key before it starts, cancels or uploads anything."
      : describeDetail(detail, 401));
  input.value = "";
  pendingKeyPrompt = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      pendingKeyPrompt = null;
      const key = input.value.trim();
      resolve(dialog.returnValue === "ok" && key ? key : null);
    }, { once: true });
  });
  dialog.returnValue = "";
  dialog.showModal();
  input.focus();
  return pendingKeyPrompt;
}

/**
 * fetch() for the API. Write requests carry the stored API key; a 401 asks for one and retries.
 * Resolves to the Response for 2xx, rejects with ApiError otherwise.
 */
export async function request(path, { method = "GET", json, body, signal } = {}) {
  for (;;) {
    const headers = {};
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key && method !== "GET") headers.Authorization = `Bearer ${key}`;
    let payload = body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(json);
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body: payload, signal });
    } catch (error) {
      if (error && error.name === "AbortError") throw error;
      throw new ApiError(0, null);
    }
    if (response.status === 401) {
      const { detail } = await readProblem(response);
      const entered = await askForKey(detail, Boolean(key));
      if (entered === null) {
        throw new ApiError(401, detail, "An API key is needed for this; nothing was changed.");
      }
      sessionStorage.setItem(KEY_STORAGE, entered);
      continue;
    }
    if (!response.ok) {
      const problem = await readProblem(response);
      throw new ApiError(response.status, problem.detail ?? null, undefined, problem.errors);
    }
    return response;
  }
}

export async function getJSON(path, options) {
  return (await request(path, options)).json();
}

/** Why an image URL failed, read from a second request (an <img> cannot see the body). */
export async function imageProblem(url) {
  try {
    await request(url);
    return "The image could not be shown.";
  } catch (error) {
    return messageOf(error);
  }
}

/** A sentence for any thrown value; never a stack trace. */
export function messageOf(error) {
  if (error instanceof ApiError) return error.message;
  console.error(error);
  return "Something went wrong in this page. Reloading it usually helps.";
}

// -- formatting ---------------------------------------------------------------------------------

const integer = new Intl.NumberFormat("en");

export function formatInteger(value) {
  return value === null || value === undefined ? "–" : integer.format(value);
}

/** Three significant digits, without exponent noise for everyday magnitudes. */
export function formatNumber(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (typeof value !== "number") return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e6)) return value.toExponential(2);
  if (Number.isInteger(value)) return integer.format(value);
  return Number(value.toPrecision(3)).toLocaleString("en", { maximumFractionDigits: 6 });
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function formatWhen(epochSeconds) {
  if (!epochSeconds) return "";
  const ago = Date.now() / 1000 - epochSeconds;
  if (ago < 60) return "just now";
  if (ago < 3600) return `${Math.floor(ago / 60)} min ago`;
  if (ago < 86400) return `${Math.floor(ago / 3600)} h ago`;
  return new Date(epochSeconds * 1000).toLocaleDateString("en", { dateStyle: "medium" });
}

// -- DOM ----------------------------------------------------------------------------------------

/** h("p", {class: "x"}, "text", child) -> element. Attributes starting with "on" are listeners. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export function showError(element, message) {
  element.textContent = message || "";
  element.hidden = !message;
}

// -- the page state in the address bar -----------------------------------------------------------

/** "#sample?seed=3" -> {view: "sample", params: URLSearchParams("seed=3")}. */
export function readHash() {
  const hash = location.hash.replace(/^#/, "");
  const [view, query = ""] = hash.split("?", 2);
  return { view: view || "", params: new URLSearchParams(query) };
}

const lastQuery = new Map(); // view -> its last state, restored when its tab is clicked

/** The state a view last wrote, so coming back through the tabs shows the same thing. */
export function rememberedParams(view) {
  return new URLSearchParams(lastQuery.get(view) || "");
}

/** Replace the address without a new history entry (the page already shows this state). */
export function writeHash(view, params) {
  const query = params.toString();
  lastQuery.set(view, query);
  const hash = `#${view}${query ? `?${query}` : ""}`;
  if (location.hash !== hash) history.replaceState(null, "", hash);
}

/**
 * Copy the page's address (its state) for a "Copy link" button. Where the clipboard API is not
 * available (plain http off localhost) the link is shown selected in a text box instead.
 */
export async function copyLink(button, fallbackInput) {
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  try {
    await navigator.clipboard.writeText(location.href);
    button.textContent = "Link copied";
    setTimeout(() => { button.textContent = label; }, 2000);
  } catch {
    fallbackInput.value = location.href;
    fallbackInput.parentElement.hidden = false;
    fallbackInput.focus();
    fallbackInput.select();
  }
}

/** A seed as text (seeds reach 2^63-1, past JavaScript's exact integers), or null if invalid. */
export function parseSeed(text, maxSeed) {
  const value = String(text ?? "").trim();
  if (!/^\d{1,19}$/.test(value)) return null;
  const normal = BigInt(value);
  return normal <= BigInt(maxSeed) ? normal.toString() : null;
}

export function randomSeed() {
  const words = new Uint32Array(1);
  crypto.getRandomValues(words);
  return String(words[0] % 1_000_000_000);
}
