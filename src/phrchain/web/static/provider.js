// Provider sections: my patients (consents naming me), request access (pull), push,
// emergency access (break-glass).
import {
  api, attempt, badge, checkboxes, checkedValues, didEl, fmtDate, h, partyEl,
  registerSection, replace, rerender, resourceCard, scopeText, vocabulary,
} from "./app.js";

function purposeSelect(vocab, id, value = "TREAT") {
  return h("select", { id, name: "purpose" }, vocab.purposes.map((p) => h("option",
    { value: p, selected: p === value }, p)));
}

// Open a record through its vault; the decrypted resource or the refusal goes to `out`.
async function openInto(out, body) {
  const opened = await attempt(out, () => api("POST", "provider/open", body));
  if (opened) replace(out, resourceCard(opened));
}

function recordRow(r, purpose) {
  const out = h("div", { class: "result" });
  const open = h("button", { type: "button", class: "open" }, "Open");
  open.addEventListener("click", () => openInto(out, { record: r.record, purpose }));
  return h("tr", { dataset: { record: r.record } },
    h("td", {}, fmtDate(r.registered_ms)), h("td", {}, r.resource,
      h("div", { class: "note" }, r.category)),
    h("td", {}, partyEl(r.custodian)),
    h("td", {}, badge(r.active ? "active" : "inactive")),
    h("td", {}, open, out));
}

function patientBlock(p) {
  const purpose = (p.consents.find((c) => c.status === "active") || p.consents[0])
    .purposes[0] || "TREAT";
  return h("div", { class: "patient-block", dataset: { patient: p.patient } },
    h("h3", {}, "Patient ", didEl(p.patient)),
    h("ul", {}, p.consents.map((c) => h("li", { dataset: { consent: c.consent } },
      badge(c.status), ` ${c.actions.join(", ")} of ${scopeText(c.scope)} for `
      + `${c.purposes.join(", ")}, ${fmtDate(c.period.start_ms)} → `
      + `${fmtDate(c.period.end_ms)} (to ${c.grantee.label})`))),
    p.records.length ? h("table", {}, h("thead", {}, h("tr", {}, ["Registered", "Type",
      "Held by", "Consent", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, p.records.map((r) => recordRow(r, purpose))))
      : h("p", { class: "note" }, "No record is covered yet."));
}

async function renderPatients(body) {
  const [vocab, { patients }] = await Promise.all([vocabulary(),
    api("GET", "provider/patients")]);
  const out = h("div");
  const form = h("form", { id: "open-form" },
    h("label", {}, "Record id", h("input", { name: "record", required: true, size: 40,
      pattern: "[0-9a-f]{32}" })),
    h("label", {}, "Purpose", purposeSelect(vocab, "open-purpose")),
    h("button", { type: "submit" }, "Open"), out);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    openInto(out, { record: form.elements.record.value.trim(),
      purpose: form.elements.purpose.value });
  });
  replace(body,
    patients.length ? patients.map(patientBlock)
      : h("p", {}, "No patient has named you in a consent."),
    h("h3", {}, "Open a record by id"), form);
}

function scopeFields(vocab) {
  const kind = h("select", { name: "scope-kind" }, [["all", "all records"],
    ["categories", "categories"], ["resources", "resource types"], ["records", "record ids"]]
    .map(([v, t]) => h("option", { value: v }, t)));
  const parts = {
    all: h("span"),
    categories: h("fieldset", { hidden: true }, h("legend", {}, "Categories"),
      checkboxes("category", vocab.categories)),
    resources: h("label", { hidden: true }, "Resource types (comma separated)",
      h("input", { name: "resources" })),
    records: h("label", { hidden: true }, "Record ids (comma separated)",
      h("input", { name: "records", size: 60 })),
  };
  kind.addEventListener("change", () => {
    for (const [k, el] of Object.entries(parts)) el.hidden = k !== kind.value;
  });
  const read = (form) => {
    const list = (name) => [...new Set(form.elements[name].value.split(",")
      .map((s) => s.trim()).filter(Boolean))].sort();
    if (kind.value === "all") return { all: true };
    if (kind.value === "categories") return { categories: checkedValues(form, "category") };
    return { [kind.value]: list(kind.value) };
  };
  return { elements: [h("label", {}, "Scope", kind), Object.values(parts)], read };
}

function requestRow(r) {
  return h("tr", { dataset: { request: r.request, status: r.status } },
    h("td", {}, didEl(r.patient)), h("td", {}, scopeText(r.scope)), h("td", {}, r.purpose),
    h("td", {}, badge(r.status)),
    h("td", {}, r.records.map((rec) => {
      const out = h("div", { class: "result" });
      const pull = h("button", { type: "button", class: "pull" }, `Pull ${rec.resource}`);
      pull.addEventListener("click", async () => {
        const opened = await attempt(out, () => api("POST", "provider/pull",
          { request: r.request, record: rec.record }));
        if (opened) replace(out, resourceCard(opened));
      });
      return h("div", { dataset: { record: rec.record } }, pull, out);
    })));
}

async function renderPull(body) {
  const [vocab, { requests }] = await Promise.all([vocabulary(),
    api("GET", "provider/requests")]);
  const scope = scopeFields(vocab);
  const out = h("div");
  const form = h("form", { id: "pull-form" },
    h("label", {}, "Patient DID", h("input", { name: "patient", required: true, size: 60 })),
    scope.elements, h("label", {}, "Purpose", purposeSelect(vocab, "pull-purpose")),
    h("button", { type: "submit", class: "primary" }, "Ask the patient"), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = await attempt(out, () => api("POST", "provider/requests", {
      patient: form.elements.patient.value.trim(), scope: scope.read(form),
      purpose: form.elements.purpose.value }), (r) => `Request ${r.request}: ${r.status}.`);
    if (done) await rerender();
  });
  replace(body, h("p", { class: "note" }, "A request waits for the patient unless a "
    + "standing consent already allows the pull. Pulled records are copied to your "
    + "institution's vault."), form, h("h3", {}, "My requests"),
  requests.length ? h("table", { id: "my-requests" }, h("thead", {}, h("tr", {},
    ["Patient", "Scope", "Purpose", "Status", "Records"].map((t) => h("th", {}, t)))),
  h("tbody", {}, requests.map(requestRow))) : h("p", {}, "None yet."));
}

async function renderPush(body) {
  const [vocab, { parties }] = await Promise.all([vocabulary(), api("GET", "parties")]);
  const out = h("div");
  const form = h("form", { id: "push-form" },
    h("label", {}, "Record id", h("input", { name: "record", required: true, size: 40 })),
    h("label", {}, "To (practitioner or organization)", h("input", { name: "to",
      required: true, size: 60, list: "push-parties" })),
    h("datalist", { id: "push-parties" }, parties.map((p) => h("option", { value: p.did },
      p.label))),
    h("label", {}, "Purpose", purposeSelect(vocab, "push-purpose")),
    h("button", { type: "submit", class: "primary" }, "Send"), out);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(out, () => api("POST", "provider/push", { record: form.elements.record.value.trim(),
      to: form.elements.to.value.trim(), purpose: form.elements.purpose.value }),
    (r) => [`Sent to `, partyEl(r.to)]);
  });
  replace(body, h("p", { class: "note" }, "The patient's consent must allow the "
    + "recipient to receive pushes."), form);
}

async function renderEmergency(body) {
  const out = h("div");
  const form = h("form", { id: "break-glass-form" },
    h("div", { class: "warning" }, "Emergency access overrides the patient's consent. "
      + "It is flagged in the patient's audit log, the patient is notified, and "
      + "auditors review it."),
    h("label", {}, "Record id", h("input", { name: "record", required: true, size: 40 })),
    h("label", {}, "Reason (required)", h("textarea", { name: "reason", required: true,
      minlength: 10, rows: 3 })),
    h("button", { type: "submit", class: "danger" }, "Open in an emergency"), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const opened = await attempt(out, () => api("POST", "provider/break-glass", {
      record: form.elements.record.value.trim(), reason: form.elements.reason.value }));
    if (opened) replace(out, resourceCard(opened));
  });
  replace(body, form);
}

registerSection({ id: "provider-patients", title: "My patients", capability: "provider",
  order: 10, render: renderPatients });
registerSection({ id: "provider-pull", title: "Request access", capability: "provider",
  order: 20, render: renderPull });
registerSection({ id: "provider-push", title: "Push a record", capability: "provider",
  order: 30, render: renderPush });
registerSection({ id: "provider-emergency", title: "Emergency access",
  capability: "break_glass", order: 40, render: renderEmergency });
