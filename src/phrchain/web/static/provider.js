// Provider sections: my patients (consents naming me, each patient's chart), request
// access (pull), push, emergency access (break-glass).
import {
  api, attempt, badge, consentSentence, didEl, fmtDate,
  fmtFhirDate, granteeText, h, partyEl, partyLabel, registerSection, replace, rerender,
  resourceCard, scopeText, t, term, vocabulary,
} from "./app.js";
import { trendsBlock } from "./trends.js";

function purposeSelect(vocab, id, value = "TREAT") {
  return h("select", { id, name: "purpose" }, vocab.purposes.map((p) => h("option",
    { value: p, selected: p === value }, term("purpose", p))));
}

// Open a record through its vault; the decrypted resource or the refusal goes to `out`.
async function openInto(out, body) {
  const opened = await attempt(out, () => api("POST", "provider/open", body));
  if (opened) replace(out, resourceCard(opened));
}

function recordRow(r, purpose) {
  const out = h("div", { class: "result" });
  const open = h("button", { type: "button", class: "open" }, t("provider.open"));
  open.addEventListener("click", () => openInto(out, { record: r.record, purpose }));
  return h("li", { class: "card", dataset: { record: r.record } },
    h("div", { class: "row" }, h("span", { class: "chip" }, term("category", r.category)),
      term("resource", r.resource), badge(r.active ? "active" : "inactive"),
      h("span", { class: "note" }, t("provider.registered", { date: fmtDate(r.registered_ms) }))),
    h("div", { class: "note" }, t("records.held_by"), " ", partyEl(r.custodian)),
    h("div", { class: "row" }, open), out);
}

// The patient banner: name, birth date and sex from the patient's own Patient resource
// when a consent lets me read it; otherwise the pseudonymous DID alone, said so.
function bannerEl(patient, banner) {
  if (!banner || !banner.name) {
    return h("div", { class: "patient-banner pseudonym", dataset: { banner: "pseudonym" } },
      h("strong", {}, t("chart.pseudonym")), " ", didEl(patient),
      h("div", { class: "note" }, t("chart.no_patient_resource")));
  }
  const facts = [banner.birth_date ? t("chart.born", { date: fmtFhirDate(banner.birth_date) })
    : "", banner.gender ? term("gender", banner.gender) : ""].filter(Boolean).join(" · ");
  return h("div", { class: "patient-banner", dataset: { banner: "named" } },
    h("strong", { class: "patient-name" }, banner.name), " ",
    h("span", { class: "patient-facts" }, facts),
    h("div", { class: "note" }, didEl(patient)));
}

function summaryList(kind, items) {
  return h("div", { class: "summary-list", dataset: { kind } }, h("h4", {}, t(`chart.${kind}`)),
    items.length ? h("ul", {}, items.map((i) => h("li", { dataset: { record: i.record } },
      i.text, i.date ? h("span", { class: "note" }, ` · ${fmtFhirDate(i.date, { day: true })}`)
        : "")))
      : h("p", { class: "note" }, t("chart.none_known")));
}

async function loadChart(out, patient, purpose) {
  const chart = await attempt(out, () => api("POST", "provider/chart", { patient, purpose }));
  if (!chart) return;
  const charts = trendsBlock(chart.trends);
  replace(out, bannerEl(patient, chart.banner),
    h("div", { class: "summary-grid" }, ["allergies", "problems", "medications"].map((k) =>
      summaryList(k, chart.summary[k]))),
    charts,
    chart.refused.length ? h("p", { class: "warning" },
      t("chart.refused", { n: chart.refused.length })) : "");
  if (charts) charts.drawCharts();
}

function patientBlock(p) {
  const active = p.consents.find((c) => c.status === "active");
  const purpose = (active || p.consents[0]).purposes[0] || "TREAT";
  const chart = h("div", { class: "chart-top" },
    bannerEl(p.patient, null));
  const openChart = h("button", { type: "button", class: "primary open-chart",
    disabled: !active }, t("chart.open"));
  openChart.addEventListener("click", () => loadChart(chart, p.patient, purpose));
  return h("div", { class: "patient-block", dataset: { patient: p.patient } },
    chart, h("div", { class: "row" }, openChart,
      h("span", { class: "note" }, t("chart.audited"))),
    h("h4", {}, t("provider.consents")),
    h("ul", { class: "cards" }, p.consents.map((c) => h("li", { class: "card",
      dataset: { consent: c.consent, status: c.status } }, badge(c.status), " ",
    consentSentence({ who: granteeText(c.grantee), actions: c.actions, scope: c.scope,
      purposes: c.purposes, start: c.period.start_ms, end: c.period.end_ms })))),
    h("h4", {}, t("provider.records")),
    p.records.length ? h("ul", { class: "cards records" },
      p.records.map((r) => recordRow(r, purpose)))
      : h("p", { class: "note" }, t("provider.no_records")));
}

async function renderPatients(body) {
  const [vocab, { patients }] = await Promise.all([vocabulary(),
    api("GET", "provider/patients")]);
  const out = h("div");
  const form = h("form", { id: "open-form" },
    h("label", {}, t("provider.record_id"), h("input", { name: "record", required: true,
      pattern: "[0-9a-f]{32}" })),
    h("label", {}, t("provider.purpose"), purposeSelect(vocab, "open-purpose")),
    h("button", { type: "submit" }, t("provider.open")), out);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    openInto(out, { record: form.elements.record.value.trim(),
      purpose: form.elements.purpose.value });
  });
  replace(body,
    patients.length ? patients.map(patientBlock) : h("p", {}, t("provider.no_patients")),
    h("h3", {}, t("provider.open_by_id")), form);
}

// A request names the patient's record ids or all records: a category or type is health
// data the chain never carries, and the requester cannot read the patient's descriptors.
function scopeFields() {
  const kind = h("select", { name: "scope-kind" }, ["all", "records"]
    .map((v) => h("option", { value: v }, t(`pull.scope_${v}`))));
  const parts = {
    all: h("span"),
    records: h("label", { hidden: true }, t("pull.records"), h("input", { name: "records" })),
  };
  kind.addEventListener("change", () => {
    for (const [k, el] of Object.entries(parts)) el.hidden = k !== kind.value;
  });
  const read = (form) => {
    if (kind.value === "all") return { all: true };
    return { records: [...new Set(form.elements.records.value.split(",")
      .map((s) => s.trim()).filter(Boolean))].sort() };
  };
  return { elements: [h("label", {}, t("grant.scope"), kind), Object.values(parts),
    h("p", { class: "note" }, t("pull.scope_note"))], read };
}

function requestRow(r) {
  return h("li", { class: "card", dataset: { request: r.request, status: r.status } },
    h("div", { class: "row" }, badge(r.status), didEl(r.patient)),
    h("p", {}, t("pull.asked", { what: scopeText(r.scope), purpose: term("purpose", r.purpose) })),
    r.records.map((rec) => {
      const out = h("div", { class: "result" });
      const pull = h("button", { type: "button", class: "pull" },
        t("pull.pull", { resource: term("resource", rec.resource) }));
      pull.addEventListener("click", async () => {
        const opened = await attempt(out, () => api("POST", "provider/pull",
          { request: r.request, record: rec.record }));
        if (opened) replace(out, resourceCard(opened));
      });
      return h("div", { dataset: { record: rec.record } }, pull, out);
    }));
}

async function renderPull(body) {
  const [vocab, { requests }] = await Promise.all([vocabulary(),
    api("GET", "provider/requests")]);
  const scope = scopeFields();
  const out = h("div");
  const form = h("form", { id: "pull-form" },
    h("label", {}, t("pull.patient"), h("input", { name: "patient", required: true })),
    scope.elements, h("label", {}, t("provider.purpose"), purposeSelect(vocab, "pull-purpose")),
    h("button", { type: "submit", class: "primary" }, t("pull.ask")), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = await attempt(out, () => api("POST", "provider/requests", {
      patient: form.elements.patient.value.trim(), scope: scope.read(form),
      purpose: form.elements.purpose.value }),
    (r) => t("pull.sent", { status: term("status", r.status) }));
    if (done) await rerender();
  });
  replace(body, h("p", { class: "note" }, t("pull.note")), form, h("h3", {}, t("pull.mine")),
    requests.length ? h("ul", { id: "my-requests", class: "cards" }, requests.map(requestRow))
      : h("p", {}, t("pull.none")));
}

async function renderPush(body) {
  const [vocab, { parties }] = await Promise.all([vocabulary(), api("GET", "parties")]);
  const out = h("div");
  const form = h("form", { id: "push-form" },
    h("label", {}, t("provider.record_id"), h("input", { name: "record", required: true })),
    h("label", {}, t("push.to"), h("input", { name: "to", required: true,
      list: "push-parties" })),
    h("datalist", { id: "push-parties" }, parties.map((p) => h("option", { value: p.did },
      partyLabel(p)))),
    h("label", {}, t("provider.purpose"), purposeSelect(vocab, "push-purpose")),
    h("button", { type: "submit", class: "primary" }, t("push.send")), out);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(out, () => api("POST", "provider/push", { record: form.elements.record.value.trim(),
      to: form.elements.to.value.trim(), purpose: form.elements.purpose.value }),
    (r) => [t("push.sent"), " ", partyEl(r.to)]);
  });
  replace(body, h("p", { class: "note" }, t("push.note")), form);
}

async function renderEmergency(body) {
  const out = h("div");
  const form = h("form", { id: "break-glass-form" },
    h("div", { class: "warning" }, t("emergency.warning")),
    h("label", {}, t("provider.record_id"), h("input", { name: "record", required: true })),
    h("label", {}, t("emergency.reason"), h("textarea", { name: "reason", required: true,
      minlength: 10, rows: 3 })),
    h("button", { type: "submit", class: "danger" }, t("emergency.submit")), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const opened = await attempt(out, () => api("POST", "provider/break-glass", {
      record: form.elements.record.value.trim(), reason: form.elements.reason.value }));
    if (opened) replace(out, resourceCard(opened));
  });
  replace(body, form);
}

registerSection({ id: "provider-patients", title: "nav.patients", capability: "provider",
  order: 10, render: renderPatients });
registerSection({ id: "provider-pull", title: "nav.pull", capability: "provider",
  order: 20, render: renderPull });
registerSection({ id: "provider-push", title: "nav.push", capability: "provider",
  order: 30, render: renderPush });
registerSection({ id: "provider-emergency", title: "nav.emergency",
  capability: "break_glass", order: 40, render: renderEmergency });
