// phrchain UI core: session, navigation, and small helpers the views share.
// No inline code anywhere (the Content-Security-Policy forbids it) and no HTML parsing:
// every value from the chain, a vault or a record is inserted as text.

const state = { session: null, csrf: "", sections: [], current: null, vocabulary: null };

// -- language ----------------------------------------------------------------------------
// One mechanism for the whole page: the JSON catalogues in static/i18n/ (one per language,
// the same keys; tests/unit/test_web_i18n.py fails on a missing or untranslated key).
// The language is the one the person chose here (remembered in this browser), else the
// one the backend negotiated from Accept-Language.
export const LANGUAGES = ["en", "ko"];
const LANG_KEY = "phrchain-lang";
const i18n = { lang: "en", messages: {} };

async function loadLanguage(lang) {
  const response = await fetch(`static/i18n/${lang}.json`, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`no catalogue for ${lang}`);
  i18n.messages = await response.json();
  i18n.lang = lang;
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  document.title = t("app.title");
  const toggle = document.getElementById("lang");
  const other = LANGUAGES.find((l) => l !== lang);
  toggle.textContent = t(`lang.${other}`);
  toggle.setAttribute("lang", other);
  toggle.dataset.lang = other;
}

export function lang() {
  return i18n.lang;
}

function storedLanguage() {
  try {
    const chosen = window.localStorage.getItem(LANG_KEY);
    return LANGUAGES.includes(chosen) ? chosen : null;
  } catch (err) {
    return null; // storage disabled: follow the browser
  }
}

// The message `key` with `{name}` placeholders filled from `vars`. A missing key shows as
// the key itself (and the catalogue test fails on it).
export function t(key, vars = {}) {
  const text = i18n.messages[key];
  if (text === undefined) return key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

// A fixed chain vocabulary word (purpose, category, action, status…) in this language,
// or the word itself when the catalogue has none (a code added to the chain later).
export function term(kind, value) {
  const key = `${kind}.${value}`;
  return key in i18n.messages ? i18n.messages[key] : String(value);
}

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
      showLogin(t("login.expired"));
    }
    throw err;
  }
  if (raw) return response;
  return isJson ? response.json() : response.blob();
}

export function errorBox(err) {
  if (err instanceof UiError) {
    const known = `error.${err.name_}`;
    return h("div", { class: "error", role: "alert", dataset: { codespace: err.codespace,
      code: String(err.code) } }, t("error.refused", { code: `${err.codespace}/${err.code}`,
      name: err.name_ }), " ", known in i18n.messages ? `${t(known)} — ` : "", err.message);
  }
  return h("div", { class: "error", role: "alert" }, String(err && err.message || err));
}

// Run an action, showing its outcome in `out`; the action's result is returned.
export async function attempt(out, action, success) {
  replace(out, h("span", { class: "note" }, t("common.working")));
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

// Who a party is, in this language, from the parts the backend sends (deps.party).
export function partyLabel(p) {
  if (!p) return "";
  if (p.kind === "organization") {
    return t("party.organization", { name: p.name, type: term("org_type", p.org_type) });
  }
  if (p.kind === "practitioner") {
    return t(p.organization ? "party.practitioner_at" : "party.practitioner", {
      roles: listText(p.roles || [], "role"),
      org: p.organization ? p.organization.name || partyLabel(p.organization) : "" });
  }
  if (p.kind === "patient") return t("party.patient");
  return p.label && p.label !== p.did ? p.label : "";
}

export function partyEl(p) {
  if (!p) return "";
  const label = partyLabel(p);
  return h("span", { class: "party" }, label ? `${label} ` : "", didEl(p.did));
}

export function fmtTime(ms) {
  if (ms === undefined || ms === null) return "";
  return new Intl.DateTimeFormat(i18n.lang, { dateStyle: "long", timeStyle: "short" })
    .format(new Date(ms));
}

// A date for people (``2024년 5월 1일`` / ``May 1, 2024``).
export function fmtDate(ms) {
  if (ms === undefined || ms === null) return "";
  return new Intl.DateTimeFormat(i18n.lang, { dateStyle: "long" }).format(new Date(ms));
}

// The value of a date input (yyyy-mm-dd, local time): not for display.
export function isoDate(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

// A FHIR date or dateTime ("1986", "2024-05", "2024-05-01", "2024-05-01T08:30:00Z") for
// people: a date alone stays a calendar date (never shifted by the time zone);
// `day`: the date part only, even of a dateTime.
export function fmtFhirDate(value, { day = false } = {}) {
  if (!value) return "";
  if (day && value.length > 10 && /^\d{4}-\d{2}-\d{2}T/.test(value)) {
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return fmtDate(ms);
  }
  const m = /^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$/.exec(value);
  if (m) {
    const [year, month, day] = [Number(m[1]), Number(m[2] || 1), Number(m[3] || 1)];
    const options = { timeZone: "UTC", year: "numeric" };
    if (m[2]) options.month = "long";
    if (m[3]) options.day = "numeric";
    return new Intl.DateTimeFormat(i18n.lang, options)
      .format(new Date(Date.UTC(year, month - 1, day)));
  }
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? value : fmtTime(ms);
}

// Money from the backend ({amount, currency, text}: integer minor units, and the text the
// backend formatted with the currency's ISO 4217 exponent) in this language's format.
// The exponent is read from that text, so both always agree (KRW: no decimals).
export function fmtMoney(money) {
  if (!money) return "";
  const minor = /\.(\d+)\s/.exec(money.text || "");
  const digits = minor ? minor[1].length : 0;
  try {
    return new Intl.NumberFormat(i18n.lang, { style: "currency", currency: money.currency,
      minimumFractionDigits: digits, maximumFractionDigits: digits })
      .format(money.amount / 10 ** digits);
  } catch (err) {
    return money.text; // not an ISO 4217 code the browser knows
  }
}

export function badge(status) {
  return h("span", { class: `badge ${status}`, dataset: { status } }, term("status", status));
}

export function listText(values, kind) {
  return new Intl.ListFormat(i18n.lang, { type: "conjunction" })
    .format(values.map((v) => term(kind, v)));
}

// What a scope covers, in words. On chain a scope is all records or record ids only;
// `chosen` is what the patient picked them by (categories, resource types), which this
// session remembers (never the chain), said with the number of records it became.
export function scopeText(scope, chosen = null) {
  if (!scope) return "";
  if (scope.all) return t("scope.all");
  const n = (scope.records || []).length;
  if (chosen && (chosen.categories || chosen.resources)) {
    const kinds = [...(chosen.categories || []).map((c) => term("category", c)),
      ...(chosen.resources || []).map((r) => term("resource", r))];
    const list = new Intl.ListFormat(i18n.lang, { type: "conjunction" }).format(kinds);
    return t("scope.chosen", { list, n });
  }
  return t("scope.records", { n });
}

// The one line about a record: the backend's (the record's own words); a Patient's
// sex and birth date in the page's language.
export function summaryText(view) {
  const fhir = view.fhir;
  if (!fhir || fhir.resourceType !== "Patient") return view.summary || "";
  const name = (fhir.name || [])[0] || {};
  const text = name.text || [...(name.given || []), name.family || ""].join(" ").trim();
  return [text, fhir.gender ? term("gender", fhir.gender) : "",
    fhir.birthDate ? t("chart.born", { date: fmtFhirDate(fhir.birthDate) }) : ""]
    .filter(Boolean).join(" · ");
}

// Who a consent names, in words (`parties`: DID → party, for names the chain knows).
export function granteeText(grantee, parties = new Map()) {
  if (grantee.kind === "role") {
    const org = grantee.organization
      && (grantee.organization_party || parties.get(grantee.organization));
    return org ? t("grantee.role_at", { role: term("role", grantee.id), org: partyLabel(org) })
      : t("grantee.role", { role: term("role", grantee.id) });
  }
  const known = grantee.party || parties.get(grantee.id);
  return known ? partyLabel(known) || grantee.id : grantee.id;
}

// A consent as one sentence ("… may read your laboratory results for treatment from …
// until …"), shown before the patient signs and wherever a consent is listed.
export function consentSentence({ who, actions, scope, chosen, purposes, start, end }) {
  return t("consent.sentence", { who, actions: listText(actions, "action_verb"),
    what: scopeText(scope, chosen), purposes: listText(purposes, "purpose"),
    from: fmtDate(start), until: fmtDate(end) });
}

// The record's own text (FHIR display text, in the language it was written in).
export function resourceCard(view) {
  return h("div", { class: "record-card", dataset: { record: view.record } },
    h("div", { class: "summary" }, term("resource", view.resource || ""),
      view.summary ? ": " : "", summaryText(view)),
    view.date ? h("div", { class: "note" }, t("record.date", { date: fmtFhirDate(view.date) }))
      : "",
    view.decision ? h("div", { class: "note" }, t("record.decision", {
      decision: term("status", view.decision.decision || "permit"),
      reason: term("reason", view.decision.reason) }),
    view.decision.break_glass ? ` — ${t("record.break_glass")}` : "") : "",
    view.fhir ? h("details", {}, h("summary", {}, t("record.fhir")),
      h("pre", { tabindex: "0" }, JSON.stringify(view.fhir, null, 2))) : "");
}

export function verifiedEl(item) {
  return item.verified
    ? h("span", { class: "verified", title: t("verified.title") }, `✓ ${t("verified.yes")}`)
    : h("span", { class: "unverified", title: item.why || "" }, `✗ ${t("verified.no")}`,
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

export function checkboxes(name, values, checked = [], kind = null) {
  return values.map((v) => h("label", {}, h("input", { type: "checkbox", name, value: v,
    checked: checked.includes(v) }), kind ? term(kind, v) : v));
}

export function checkedValues(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
}

// -- sections ----------------------------------------------------------------------------
// A view registers sections; the page shows those whose capability the session has.
// {id, title (a catalogue key), capability, order, render(container, session)}
export function registerSection(section) {
  state.sections.push(section);
}

function visibleSections() {
  const caps = new Set(state.session ? state.session.capabilities : []);
  return state.sections.filter((s) => caps.has(s.capability))
    .sort((a, b) => a.order - b.order);
}

let shown = 0; // the newest show(): an older one still rendering must not draw over it

async function show(section, { focus = false } = {}) {
  state.current = section;
  const mine = ++shown;
  const view = document.getElementById("view");
  for (const button of document.querySelectorAll("#nav button")) {
    button.setAttribute("aria-current", button.dataset.section === section.id ? "page" : "false");
  }
  view.dataset.section = section.id;
  const title = () => h("h2", { tabindex: "-1" }, t(section.title));
  replace(view, title(), h("p", { class: "note" }, t("common.loading")));
  const body = h("div", { class: "section-body" });
  try {
    const drawn = await section.render(body, state.session);
    if (mine !== shown) return; // the user moved on while this section was loading
    replace(view, title(), body);
    if (typeof drawn === "function") drawn(); // what needs the page's layout (charts)
    if (focus) view.querySelector("h2").focus(); // keyboard and screen readers follow
  } catch (err) {
    if (mine !== shown) return;
    replace(view, title(), errorBox(err));
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
  replace(document.getElementById("who"), partyEl(s.identity));
  const banner = document.getElementById("banner");
  banner.hidden = s.anchored;
  replace(banner, s.anchored ? "" : h("div", { class: "warning" }, t("banner.no_anchor")));
  const sections = visibleSections();
  replace(document.getElementById("nav"), sections.map((section) => h("button",
    { type: "button", dataset: { section: section.id },
      onclick: () => show(section, { focus: true }) },
    t(section.title))));
  // a SMART app's authorize request sent the patient here: its consent screen first
  const smart = new URLSearchParams(window.location.search).has("smart_request")
    ? sections.find((s) => s.id === "patient-smart") : null;
  if (smart || sections.length) {
    show(smart || sections[0]);
  } else {
    replace(document.getElementById("view"), h("p", {}, t("app.nothing")));
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
    `${w.name}${w.role ? ` (${term("role", w.role)})` : ""}`
    + `${w.problem ? ` — ${t("login.unreadable")}` : ""}`)));
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
    error.textContent = err.name_ === "wrong_passphrase" ? t("login.wrong") : err.message;
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
  await showLogin(t("login.logged_out"));
}

async function switchLanguage(event) {
  const chosen = event.currentTarget.dataset.lang;
  try {
    window.localStorage.setItem(LANG_KEY, chosen);
  } catch (err) {
    // storage disabled: the choice lasts until the page is reloaded
  }
  await loadLanguage(chosen);
  if (state.session) {
    showApp();
  } else {
    await showLogin();
  }
}

async function start() {
  document.getElementById("login-form").addEventListener("submit", login);
  document.getElementById("logout").addEventListener("click", logout);
  document.getElementById("refresh").addEventListener("click", () => rerender());
  document.getElementById("lang").addEventListener("click", switchLanguage);
  await Promise.all([import("./patient.js"), import("./provider.js"), import("./auditor.js"),
    import("./claims.js"), import("./trials.js"), import("./smart.js"), import("./supply.js"),
    import("./prescriber.js"),
    import("./genome.js"), import("./research.js")]);
  const session = await api("GET", "session");
  state.csrf = session.csrf;
  await loadLanguage(storedLanguage() || session.lang || "en");
  if (session.logged_in) {
    state.session = session;
    showApp();
  } else {
    await showLogin();
  }
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", start);
