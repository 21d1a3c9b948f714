// phrchain UI core: session, navigation, and small helpers the views share.
// No inline code anywhere (the Content-Security-Policy forbids it) and no HTML parsing:
// every value from the chain, a vault or a record is inserted as text.

const state = { session: null, csrf: "", sections: [], current: null, vocabulary: null };

// -- DOM ---------------------------------------------------------------------------------
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// -- the backend -------------------------------------------------------------------------
export class UiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.codespace = e.codespace || "ui";
    this.code = e.code || 0;
    this.name_ = e.name || "error";
  }
}

// `raw`: resolve to the Response itself (a download: its body and headers).
export async function api(method, path, body, { raw = false } = {}) {
  const headers = { Accept: "application/json" };
  const options = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (method !== "GET") headers["X-CSRF-Token"] = state.csrf;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(`api/${path}`, options);
  const isJson = (response.headers.get("content-type") || "").includes("application/json");
  if (!response.ok) {
    const data = isJson ? await response.json().catch(() => null) : null;
    const err = new UiError(response.status, data);
    if (err.status === 401 && err.name_ === "not_logged_in" && state.session) {
      state.session = null;
      showLogin("Your session ended (idle for too long, or logged out). Log in again.");
    }
    throw err;
  }
  if (raw) return response;
  return isJson ? response.json() : response.blob();
}

export function errorBox(err) {
  if (err instanceof UiError) {
    return h("div", { class: "error", role: "alert", dataset: { codespace: err.codespace,
      code: String(err.code) } }, `Refused (${err.codespace}/${err.code} ${err.name_}): `,
      err.message);
  }
  return h("div", { class: "error", role: "alert" }, String(err && err.message || err));
}

// Run an action, showing its outcome in `out`; the action's result is returned.
export async function attempt(out, action, success) {
  replace(out, h("span", { class: "note" }, "Working…"));
  try {
    const result = await action();
    replace(out, success ? h("div", { class: "success" }, success(result)) : "");
    return result;
  } catch (err) {
    replace(out, errorBox(err));
    return undefined;
  }
}

// -- formatting --------------------------------------------------------------------------
export function shortDid(did) {
  if (!did) return "";
  return did.length > 24 ? `${did.slice(0, 14)}…${did.slice(-6)}` : did;
}

export function didEl(did) {
  return h("span", { class: "did", title: did }, shortDid(did));
}

export function partyEl(p) {
  if (!p) return "";
  return h("span", {}, p.label && p.label !== p.did ? `${p.label} ` : "", didEl(p.did));
}

export function fmtTime(ms) {
  if (ms === undefined || ms === null) return "";
  return new Date(ms).toLocaleString();
}

export function fmtDate(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

export function badge(text) {
  return h("span", { class: `badge ${text}` }, text);
}

export function scopeText(scope) {
  if (!scope) return "";
  if (scope.all) return "all records";
  const parts = [];
  if (scope.categories) parts.push(`categories: ${scope.categories.join(", ")}`);
  if (scope.resources) parts.push(`types: ${scope.resources.join(", ")}`);
  if (scope.records) parts.push(`${scope.records.length} record(s)`);
  return parts.join("; ");
}

export function resourceCard(view) {
  return h("div", { class: "record-card", dataset: { record: view.record } },
    h("div", { class: "summary" }, `${view.resource || ""}${view.summary ? ": " : ""}`,
      view.summary || ""),
    view.date ? h("div", { class: "note" }, `Date: ${view.date}`) : "",
    view.decision ? h("div", { class: "note" },
      `Vault decision: ${view.decision.decision || "permit"} (${view.decision.reason})`,
      view.decision.break_glass ? " — emergency access, the patient is notified" : "") : "",
    view.fhir ? h("details", {}, h("summary", {}, "FHIR JSON"),
      h("pre", {}, JSON.stringify(view.fhir, null, 2))) : "");
}

export function verifiedEl(item) {
  return item.verified
    ? h("span", { class: "verified", title: "inclusion proof checked against a log head "
        + "proven against a header signed by the trust anchor" }, "✓ verified")
    : h("span", { class: "unverified", title: item.why || "" }, "✗ not verified",
      item.why ? `: ${item.why}` : "");
}

// Parse a yyyy-mm-dd date input as ms (local midnight); the end of day for `end`.
export function dateMs(value, end = false) {
  const [y, m, d] = value.split("-").map(Number);
  return end ? new Date(y, m - 1, d, 23, 59, 59, 999).getTime() : new Date(y, m - 1, d).getTime();
}

export async function vocabulary() {
  if (!state.vocabulary) state.vocabulary = await api("GET", "vocabulary");
  return state.vocabulary;
}

export function checkboxes(name, values, checked = []) {
  return values.map((v) => h("label", {}, h("input", { type: "checkbox", name, value: v,
    checked: checked.includes(v) }), v));
}

export function checkedValues(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
}

// -- sections ----------------------------------------------------------------------------
// A view registers sections; the page shows those whose capability the session has.
// {id, title, capability, order, render(container, session)}
export function registerSection(section) {
  state.sections.push(section);
}

function visibleSections() {
  const caps = new Set(state.session ? state.session.capabilities : []);
  return state.sections.filter((s) => caps.has(s.capability))
    .sort((a, b) => a.order - b.order);
}

async function show(section) {
  state.current = section;
  const view = document.getElementById("view");
  for (const button of document.querySelectorAll("#nav button")) {
    button.setAttribute("aria-current", button.dataset.section === section.id ? "page" : "false");
  }
  view.dataset.section = section.id;
  replace(view, h("h2", {}, section.title), h("p", { class: "note" }, "Loading…"));
  const body = h("div", { class: "section-body" });
  try {
    await section.render(body, state.session);
    replace(view, h("h2", {}, section.title), body);
  } catch (err) {
    replace(view, h("h2", {}, section.title), errorBox(err));
  }
  view.dataset.loaded = String(Date.now());
}

export function rerender() {
  if (state.current) return show(state.current);
  return Promise.resolve();
}

function showApp() {
  const s = state.session;
  document.getElementById("login").hidden = true;
  for (const id of ["who", "refresh", "logout", "nav", "view"]) {
    document.getElementById(id).hidden = false;
  }
  replace(document.getElementById("who"), `${s.wallet} — ${s.identity.label} `,
    didEl(s.did));
  const banner = document.getElementById("banner");
  banner.hidden = s.anchored;
  replace(banner, s.anchored ? "" : h("div", { class: "warning" },
    "No trust anchor is configured: proofs are checked against the validator the node "
    + "names, which only shows the node is consistent with itself."));
  const sections = visibleSections();
  replace(document.getElementById("nav"), sections.map((section) => h("button",
    { type: "button", dataset: { section: section.id }, onclick: () => show(section) },
    section.title)));
  if (sections.length) {
    show(sections[0]);
  } else {
    replace(document.getElementById("view"), h("p", {},
      "This identity has nothing to do in this interface."));
  }
}

async function showLogin(message) {
  state.current = null;
  for (const id of ["who", "refresh", "logout", "nav", "view", "banner"]) {
    document.getElementById(id).hidden = true;
  }
  replace(document.getElementById("view"));
  document.getElementById("login").hidden = false;
  const error = document.getElementById("login-error");
  error.hidden = !message;
  error.textContent = message || "";
  const { wallets } = await api("GET", "wallets");
  replace(document.getElementById("wallet"), wallets.map((w) => h("option",
    { value: w.name, disabled: Boolean(w.problem) },
    `${w.name}${w.role ? ` (${w.role})` : ""}${w.problem ? ` — ${w.problem}` : ""}`)));
  const session = await api("GET", "session");
  state.csrf = session.csrf;
}

async function login(event) {
  event.preventDefault();
  const passphrase = document.getElementById("passphrase");
  const error = document.getElementById("login-error");
  const button = document.getElementById("unlock");
  button.disabled = true;
  try {
    const session = await api("POST", "session",
      { wallet: document.getElementById("wallet").value, passphrase: passphrase.value });
    passphrase.value = "";
    error.hidden = true;
    state.session = session;
    state.csrf = session.csrf;
    showApp();
  } catch (err) {
    passphrase.value = "";
    error.hidden = false;
    error.textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

async function logout() {
  try {
    const answer = await api("DELETE", "session");
    state.csrf = answer.csrf;
  } catch (err) {
    // already gone: fall through to the login page
  }
  state.session = null;
  await showLogin("Logged out: the wallet is locked again.");
}

async function start() {
  document.getElementById("login-form").addEventListener("submit", login);
  document.getElementById("logout").addEventListener("click", logout);
  document.getElementById("refresh").addEventListener("click", () => rerender());
  await Promise.all([import("./patient.js"), import("./provider.js"), import("./auditor.js"),
    import("./claims.js")]);
  const session = await api("GET", "session");
  state.csrf = session.csrf;
  if (session.logged_in) {
    state.session = session;
    showApp();
  } else {
    await showLogin();
  }
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", start);
