// Patient sections: my care (timeline and trends), consents, access requests, access log,
// emergency card, export. The Claims section (capability "claims") is in claims.js; trends
// in trends.js. A patient acts through one pseudonym per institution (docs/privacy.md):
// every list covers all of them; an action names the institution whose records it is about.
import {
  api, attempt, badge, checkboxes, checkedValues, consentSentence, dateMs, didEl, errorBox,
  fmtFhirDate, fmtTime, granteeText, h, isoDate, partyEl, partyLabel, registerSection,
  replace, rerender, resourceCard, scopeText, t, term, verifiedEl, vocabulary,
} from "./app.js";
import { trendsBlock } from "./trends.js";

const DAY = 86400000;

// -- my care: the timeline ---------------------------------------------------------------
// The backend groups the records by encounter, newest first (timeline.py); here the
// person narrows it by category, institution and date. Filtering hides, never reorders.
function recordEntry(r) {
  return h("li", { class: "entry", dataset: { record: r.record, category: r.category,
    custodian: r.custodian.did, date: (r.date || "").slice(0, 10) } },
  h("div", { class: "entry-head" }, h("span", { class: "chip" }, term("category", r.category)),
    r.status !== "active" ? [" ", badge(r.status)] : ""),
  r.problem ? errorBox(new Error(r.problem)) : resourceCard(r),
  h("div", { class: "note" }, t("records.held_by"), " ", partyEl(r.custodian),
    r.pseudonym && r.pseudonym.kind !== "self"
      ? [" · ", t("records.as_pseudonym"), " ", didEl(r.pseudonym.did)] : ""));
}

function groupEl(group, byId) {
  const members = group.records.map((id) => byId.get(id)).filter(Boolean);
  const encounter = members.find((r) => r.resource === "Encounter");
  const title = encounter ? encounter.summary
    : (members.length === 1 ? term("category", members[0].category) : t("records.visit"));
  return h("li", { class: "visit", dataset: { encounter: group.encounter || "" } },
    h("h3", {}, group.date ? h("time", { datetime: group.date },
      fmtFhirDate(group.date, { day: true }))
      : t("records.undated"), h("span", { class: "visit-title" }, ` · ${title}`)),
    h("ol", { class: "entries" }, members.map(recordEntry)));
}

function filterForm(records, apply) {
  const categories = [...new Set(records.map((r) => r.category))].sort();
  const custodians = new Map(records.map((r) => [r.custodian.did, r.custodian]));
  const any = (label) => h("option", { value: "" }, label);
  const category = h("select", { id: "filter-category" }, any(t("filter.any_category")),
    categories.map((c) => h("option", { value: c }, term("category", c))));
  const custodian = h("select", { id: "filter-custodian" }, any(t("filter.any_institution")),
    [...custodians.values()].map((p) => h("option", { value: p.did }, partyLabel(p))));
  const from = h("input", { type: "date", id: "filter-from" });
  const until = h("input", { type: "date", id: "filter-until" });
  const form = h("form", { id: "timeline-filter", class: "filters" },
    h("label", {}, t("filter.category"), category),
    h("label", {}, t("filter.institution"), custodian),
    h("label", {}, t("filter.from"), from), h("label", {}, t("filter.until"), until));
  form.addEventListener("input", () => apply({ category: category.value,
    custodian: custodian.value, from: from.value, until: until.value }));
  form.addEventListener("submit", (event) => event.preventDefault());
  return form;
}

function applyFilter(list, f) {
  for (const visit of list.querySelectorAll("li.visit")) {
    let shown = 0;
    for (const entry of visit.querySelectorAll("li.entry")) {
      const d = entry.dataset;
      const ok = (!f.category || d.category === f.category)
        && (!f.custodian || d.custodian === f.custodian)
        && (!f.from || (d.date && d.date >= f.from))
        && (!f.until || (d.date && d.date <= f.until));
      entry.hidden = !ok;
      shown += ok ? 1 : 0;
    }
    visit.hidden = shown === 0;
  }
  const count = list.querySelectorAll("li.entry:not([hidden])").length;
  list.dataset.shown = String(count);
  return count;
}

async function renderRecords(body) {
  const { records, timeline, trends } = await api("GET", "patient/records");
  if (!records.length) {
    replace(body, h("p", {}, t("records.none")));
    return;
  }
  const byId = new Map(records.map((r) => [r.record, r]));
  const list = h("ol", { id: "records", class: "timeline" },
    timeline.map((g) => groupEl(g, byId)));
  const status = h("p", { class: "note", role: "status", id: "timeline-count" },
    t("records.count", { n: records.length }));
  const filters = filterForm(records, (f) => {
    replace(status, t("records.count", { n: applyFilter(list, f) }));
  });
  const charts = trendsBlock(trends);
  replace(body, h("p", { class: "note" }, t("records.note")),
    charts, h("h3", {}, t("records.timeline")), filters, status, list);
  return () => charts && charts.drawCharts();
}

// -- consents: always said as a sentence -------------------------------------------------

function consentRow(c, parties) {
  const revoke = h("button", { type: "button", class: "danger revoke",
    disabled: c.status !== "active" }, t("consents.revoke"));
  const out = h("div");
  revoke.addEventListener("click", async () => {
    revoke.disabled = true;
    const done = await attempt(out, () => api("POST", `patient/consents/${c.consent}/revoke`));
    if (done) await rerender();
    else revoke.disabled = false;
  });
  return h("li", { class: "card consent", dataset: { consent: c.consent, status: c.status } },
    h("p", { class: "sentence" }, consentSentence({ who: granteeText(c.grantee, parties),
      actions: c.actions, scope: c.scope, chosen: c.chosen, purposes: c.purposes,
      start: c.period.start_ms, end: c.period.end_ms })),
    h("div", { class: "row" }, badge(c.status),
      c.grantee.kind !== "role" ? didEl(c.grantee.id) : "", revoke), out);
}

// The institutions that keep records for the patient, each under its own pseudonym.
function custodianSelect(id, pseudonyms) {
  const kept = pseudonyms.filter((p) => p.kind === "custodian" && p.counterpart);
  const select = h("select", { id, name: "custodian" },
    kept.map((p) => h("option", { value: p.counterpart.did }, partyLabel(p.counterpart))));
  return kept.length > 1 || (kept.length === 1 && pseudonyms.length > 1) ? select : null;
}

function grantForm(vocab, parties, records, pseudonyms) {
  const today = Date.now();
  const keptAt = custodianSelect("grant-custodian", pseudonyms);
  const list = h("datalist", { id: "grantee-options" });
  const kind = h("select", { id: "grant-kind", name: "kind" },
    ["practitioner", "organization", "role"].map((k) => h("option", { value: k },
      term("grantee_kind", k))));
  const grantee = h("input", { id: "grant-grantee", name: "grantee", list: "grantee-options",
    required: true, placeholder: t("grant.grantee_placeholder") });
  const org = h("input", { id: "grant-org", name: "organization",
    placeholder: t("grant.org_placeholder") });
  const orgLabel = h("label", { hidden: true }, t("grant.org"), org);
  const fillOptions = () => {
    const k = kind.value;
    orgLabel.hidden = k !== "role";
    replace(list, k === "role" ? vocab.roles.map((r) => h("option", { value: r },
      term("role", r)))
      : [...parties.values()].filter((p) => p.kind === k).map((p) => h("option",
        { value: p.did }, partyLabel(p))));
  };
  kind.addEventListener("change", fillOptions);
  fillOptions();
  const scopeKind = h("select", { id: "grant-scope", name: "scope" },
    ["records", "categories", "resources", "all"]
      .map((v) => h("option", { value: v }, t(`grant.scope_${v}`))));
  // Categories and types are the patient's way to choose: they become the ids of the
  // records held now that match (this list's descriptors), and only those go on chain.
  const types = [...new Set(records.map((r) => r.resource).filter(Boolean))].sort();
  const scopeParts = {
    records: h("fieldset", { id: "grant-records" }, h("legend", {}, t("grant.records")),
      records.map((r) => h("label", {}, h("input", { type: "checkbox", name: "record",
        value: r.record }), `${term("resource", r.resource)}: ${r.summary || r.record}`,
      r.date ? ` (${fmtFhirDate(r.date)})` : ""))),
    categories: h("fieldset", { hidden: true }, h("legend", {}, t("grant.categories")),
      checkboxes("category", vocab.categories, [], "category")),
    resources: h("fieldset", { hidden: true }, h("legend", {}, t("grant.resources")),
      checkboxes("resource", types, [], "resource")),
    all: h("span", { hidden: true }),
  };
  const matching = (choice) => records.filter((r) =>
    (choice.categories || []).includes(r.category)
    || (choice.resources || []).includes(r.resource)).map((r) => r.record).sort();
  const sentence = h("p", { class: "sentence preview", id: "consent-preview",
    "aria-live": "polite" });
  const out = h("div", { id: "grant-result" });
  const form = h("form", { id: "grant-form" },
    keptAt ? [h("label", {}, t("grant.kept_at"), keptAt),
      h("p", { class: "note" }, t("grant.kept_at_note"))] : "",
    h("label", {}, t("grant.kind"), kind),
    h("label", {}, t("grant.grantee"), grantee, list), orgLabel,
    h("fieldset", {}, h("legend", {}, t("grant.actions")),
      checkboxes("action", vocab.actions, ["read"], "action")),
    h("label", {}, t("grant.scope"), scopeKind), Object.values(scopeParts),
    h("p", { class: "note", id: "grant-scope-help" }, t("grant.scope_help")),
    h("fieldset", {}, h("legend", {}, t("grant.purposes")),
      checkboxes("purpose", vocab.purposes, ["TREAT"], "purpose")),
    h("label", {}, t("grant.from"), h("input", { type: "date", name: "start", required: true,
      value: isoDate(today) })),
    h("label", {}, t("grant.until"), h("input", { type: "date", name: "end", required: true,
      value: isoDate(today + 30 * DAY) })),
    h("h4", {}, t("grant.preview")), sentence,
    h("button", { type: "submit", class: "primary", id: "grant-submit" }, t("grant.submit")),
    out);
  const read = () => {
    const scope = {};
    if (scopeKind.value === "all") scope.all = true;
    if (scopeKind.value === "records") scope.records = checkedValues(form, "record").sort();
    if (scopeKind.value === "categories") scope.categories = checkedValues(form, "category");
    if (scopeKind.value === "resources") scope.resources = checkedValues(form, "resource");
    const who = { kind: kind.value, id: grantee.value.trim() };
    if (kind.value === "role" && org.value.trim()) who.organization = org.value.trim();
    const start = form.elements.start.value ? dateMs(form.elements.start.value) : today;
    const end = form.elements.end.value ? dateMs(form.elements.end.value, true) : today;
    const body = keptAt && scopeKind.value !== "records" ? { custodian: keptAt.value } : {};
    return { ...body, grantee: who, actions: checkedValues(form, "action"), scope,
      purposes: checkedValues(form, "purpose"),
      // a consent starting today starts now: it must not begin in the future
      start_ms: Math.min(start, Date.now() - 1000), end_ms: end };
  };
  const preview = () => {
    const b = read();
    const byKind = b.scope.categories || b.scope.resources;
    replace(sentence, consentSentence({ who: b.grantee.id ? granteeText(b.grantee, parties)
      : t("grant.nobody"), actions: b.actions,
    scope: byKind ? { records: matching(b.scope) } : b.scope, chosen: byKind ? b.scope : null,
    purposes: b.purposes, start: b.start_ms, end: b.end_ms }));
  };
  scopeKind.addEventListener("change", () => {
    for (const [k, el] of Object.entries(scopeParts)) el.hidden = k !== scopeKind.value;
  });
  form.addEventListener("input", preview);
  form.addEventListener("change", preview);
  preview();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = await attempt(out, () => api("POST", "patient/consents", read()),
      () => t("grant.done"));
    if (done) await rerender();
  });
  return form;
}

async function renderConsents(body) {
  const [vocab, { consents }, { parties }, { records }, { pseudonyms }] = await Promise.all([
    vocabulary(), api("GET", "patient/consents"), api("GET", "parties"),
    api("GET", "patient/records"), api("GET", "patient/pseudonyms")]);
  const byDid = new Map(parties.map((p) => [p.did, p]));
  replace(body,
    consents.length ? h("ul", { id: "consents", class: "cards" },
      consents.map((c) => consentRow(c, byDid)))
      : h("p", {}, t("consents.none")),
    h("h3", {}, t("consents.grant_title")),
    h("p", { class: "note" }, t("consents.grant_note")),
    grantForm(vocab, byDid, records, pseudonyms));
}

// -- pull requests -----------------------------------------------------------------------
function requestRow(r) {
  const out = h("div");
  const until = h("input", { type: "date", value: isoDate(Date.now() + 30 * DAY) });
  const approve = h("button", { type: "button", class: "primary approve" },
    t("requests.approve"));
  const deny = h("button", { type: "button", class: "danger deny" }, t("requests.deny"));
  approve.addEventListener("click", async () => {
    if (await attempt(out, () => api("POST", `patient/requests/${r.request}/approve`,
      { end_ms: dateMs(until.value, true) }))) await rerender();
  });
  deny.addEventListener("click", async () => {
    if (await attempt(out, () => api("POST", `patient/requests/${r.request}/deny`))) {
      await rerender();
    }
  });
  return h("li", { class: "card request", dataset: { request: r.request, status: r.status } },
    h("p", { class: "sentence" }, t("requests.sentence", { who: partyLabel(r.requester),
      what: scopeText(r.scope), purpose: term("purpose", r.purpose) })),
    h("div", { class: "row" }, badge(r.status), didEl(r.requester.did)),
    r.status === "pending" ? h("div", { class: "row" },
      h("label", {}, t("requests.until"), until), approve, deny) : "", out);
}

async function renderRequests(body) {
  const { requests } = await api("GET", "patient/requests");
  replace(body, requests.length ? h("ul", { id: "requests", class: "cards" },
    requests.map(requestRow)) : h("p", {}, t("requests.none")));
}

// -- the access log: a timeline of who read what, and why ----------------------------------
function sealedEntry(e, proofs) {
  // sealed on chain, and no key of this session opens it: only where it is, never guessed
  return h("li", { class: "card log-entry sealed", dataset: { index: String(e.index),
    sealed: "true", verified: String(e.verified) } },
  h("div", { class: "row" }, h("time", {}, fmtTime(e.time_ms)), badge("sealed"),
    h("span", { class: "note" }, `#${e.index}`)),
  h("p", { class: "sentence" }, t("log.sealed")), h("div", { class: "row note" }, verifiedEl(e)),
  proofs ? h("details", {}, h("summary", {}, t("log.hashes", { n: (e.inclusion || []).length })),
    h("pre", { tabindex: "0" }, (e.inclusion || []).join("\n"))) : "");
}

function logEntry(e, proofs) {
  if (e.sealed) return sealedEntry(e, proofs);
  const who = e.accessor_party ? partyEl(e.accessor_party) : didEl(e.accessor);
  const cls = ["card", "log-entry", e.break_glass ? "break-glass" : "",
    e.decision === "deny" ? "denied" : ""].filter(Boolean).join(" ");
  return h("li", { class: cls, dataset: { index: String(e.index), decision: e.decision || "",
    reason: e.reason || "", accessor: e.accessor || "", verified: String(e.verified) } },
  h("div", { class: "row" }, h("time", {}, fmtTime(e.time_ms)), badge(e.decision || "unknown"),
    e.break_glass ? h("strong", { class: "flag" }, t("log.emergency")) : "",
    h("span", { class: "note" }, `#${e.index}`)),
  h("p", { class: "sentence" }, who, " ", t("log.sentence", {
    action: term("action", e.action || ""), purpose: term("purpose", e.purpose || ""),
    reason: term("reason", e.reason || "") })),
  e.client ? h("p", { class: "note via-app" }, t("log.via_app", {
    app: e.client, grant: (e.grant || "").slice(0, 12) })) : "",
  h("div", { class: "row note" }, t("log.record"), " ",
    e.record_summary ? h("span", { class: "what" }, e.record_summary) : "",
    h("code", { title: e.record || "" }, (e.record || "").slice(0, 12)), verifiedEl(e)),
  proofs ? h("details", {}, h("summary", {}, t("log.hashes", { n: (e.inclusion || []).length })),
    h("pre", { tabindex: "0" }, (e.inclusion || []).join("\n"))) : "");
}

export function logTable(entries, { proofs = false } = {}) {
  return h("ol", { id: "access-log", class: "timeline cards" },
    entries.map((e) => logEntry(e, proofs)));
}

async function renderLog(body) {
  const log = await api("GET", "patient/access-log");
  replace(body,
    log.break_glass ? h("div", { class: "warning", id: "break-glass-notice" },
      t("log.break_glass", { n: log.break_glass })) : "",
    h("p", { class: "note" }, t("log.note", { height: log.head.height, size: log.head.size,
      anchor: t(log.anchored ? "log.anchor_configured" : "log.anchor_node") })),
    log.entries.length ? logTable(log.entries) : h("p", {}, t("log.none")));
}

// -- the emergency card: the break-glass locator the patient carries ----------------------
async function renderCard(body) {
  const { card } = await api("GET", "patient/emergency-card");
  replace(body, h("p", { class: "note" }, t("card.note")),
    card.length ? h("ul", { id: "emergency-card", class: "cards" }, card.map((e) =>
      h("li", { class: "card", dataset: { custodian: e.custodian.did } },
        h("div", { class: "row" }, t("card.custodian"), " ", partyEl(e.custodian)),
        h("div", { class: "row" }, t("card.pseudonym"), " ",
          h("code", { class: "pseudonym" }, e.pseudonym)))))
      : h("p", {}, t("card.none")));
}

// -- export ------------------------------------------------------------------------------
const MIN_EXPORT_PASSPHRASE = 12;

function countsList(counts) {
  return h("ul", { id: "export-counts" }, Object.entries(counts).map(([k, v]) =>
    h("li", { dataset: { count: k } }, `${term("count", k)}: ${v}`)));
}

async function renderExport(body) {
  const { pseudonyms } = await api("GET", "patient/pseudonyms");
  const keptAt = pseudonyms.length > 1 ? h("select", { id: "export-pseudonym" },
    pseudonyms.filter((p) => p.kind !== "insurer").map((p) => h("option", { value: p.did },
      p.counterpart ? partyLabel(p.counterpart) : p.did))) : null;
  const out = h("div", { id: "export-result" });
  const passphrase = h("input", { type: "password", id: "export-passphrase",
    autocomplete: "new-password", minlength: MIN_EXPORT_PASSPHRASE, required: true });
  const confirm = h("input", { type: "password", id: "export-confirm",
    autocomplete: "new-password", minlength: MIN_EXPORT_PASSPHRASE, required: true });
  const form = h("form", { id: "export-form" },
    keptAt ? h("label", {}, t("export.pseudonym"), keptAt) : "",
    h("label", {}, t("export.passphrase", { n: MIN_EXPORT_PASSPHRASE }), passphrase),
    h("label", {}, t("export.confirm"), confirm),
    h("button", { type: "submit", class: "primary", id: "export" }, t("export.submit")), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const sent = { passphrase: passphrase.value, confirm: confirm.value,
      ...(keptAt ? { pseudonym: keptAt.value } : {}) };
    passphrase.value = "";
    confirm.value = "";
    const response = await attempt(out, () => api("POST", "patient/export", sent,
      { raw: true }));
    if (!response) return;
    const counts = JSON.parse(response.headers.get("X-Portable-Counts") || "{}");
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: "phrchain-record.phr" });
    document.body.append(link);
    link.click();
    link.remove();
    URL.revokeObjectURL(url);
    replace(out, h("div", { class: "success" }, t("export.done")), countsList(counts));
  });
  replace(body, h("p", {}, t("export.note")), form);
}

registerSection({ id: "patient-records", title: "nav.records", capability: "patient",
  order: 10, render: renderRecords });
registerSection({ id: "patient-consents", title: "nav.consents", capability: "patient",
  order: 20, render: renderConsents });
registerSection({ id: "patient-requests", title: "nav.requests", capability: "patient",
  order: 30, render: renderRequests });
registerSection({ id: "patient-log", title: "nav.log", capability: "patient",
  order: 40, render: renderLog });
registerSection({ id: "patient-card", title: "nav.card", capability: "patient",
  order: 45, render: renderCard });
registerSection({ id: "patient-export", title: "nav.export", capability: "export", order: 50,
  render: renderExport });
