// Patient sections: records, consents, access requests, access log, export.
// The Claims section (capability "claims") is in claims.js.
import {
  api, attempt, badge, checkboxes, checkedValues, dateMs, didEl, errorBox, fmtDate, fmtTime,
  h, partyEl, registerSection, replace, rerender, resourceCard, scopeText, verifiedEl,
  vocabulary,
} from "./app.js";

const DAY = 86400000;

async function renderRecords(body) {
  const { records } = await api("GET", "patient/records");
  if (!records.length) {
    replace(body, h("p", {}, "No records yet."));
    return;
  }
  replace(body, h("p", { class: "note" }, "Decrypted on this computer for this session. "
    + "Each record you open is an access in your own log."),
  h("table", { id: "records" }, h("thead", {}, h("tr", {}, ["Date", "Type", "Summary",
    "Held by", "Status"].map((t) => h("th", {}, t)))),
  h("tbody", {}, records.map((r) => h("tr", { dataset: { record: r.record } },
    h("td", {}, r.date || fmtTime(r.registered_ms)),
    h("td", {}, r.resource, h("div", { class: "note" }, r.category)),
    h("td", {}, r.problem ? errorBox(new Error(r.problem)) : resourceCard(r)),
    h("td", {}, partyEl(r.custodian)),
    h("td", {}, badge(r.status)))))));
}

function consentRow(c) {
  const revoke = h("button", { type: "button", class: "danger revoke",
    disabled: c.status !== "active" }, "Revoke");
  const out = h("div");
  revoke.addEventListener("click", async () => {
    revoke.disabled = true;
    const done = await attempt(out, () => api("POST", `patient/consents/${c.consent}/revoke`));
    if (done) await rerender();
    else revoke.disabled = false;
  });
  return h("tr", { dataset: { consent: c.consent, status: c.status } },
    h("td", {}, c.grantee.label, " ", c.grantee.kind !== "role" ? didEl(c.grantee.id) : ""),
    h("td", {}, c.actions.join(", ")),
    h("td", {}, scopeText(c.scope)),
    h("td", {}, c.purposes.join(", ")),
    h("td", {}, `${fmtDate(c.period.start_ms)} → ${fmtDate(c.period.end_ms)}`),
    h("td", {}, badge(c.status)),
    h("td", {}, revoke, out));
}

function grantForm(vocab, parties, records) {
  const today = Date.now();
  const list = h("datalist", { id: "grantee-options" });
  const kind = h("select", { id: "grant-kind", name: "kind" },
    ["practitioner", "organization", "role"].map((k) => h("option", { value: k }, k)));
  const grantee = h("input", { id: "grant-grantee", name: "grantee", list: "grantee-options",
    required: true, placeholder: "a DID (did:key:…) or a role", size: 60 });
  const org = h("input", { id: "grant-org", name: "organization", size: 60,
    placeholder: "optional: only this organization's (DID)" });
  const orgLabel = h("label", { hidden: true }, "Organization (for a role)", org);
  const fillOptions = () => {
    const k = kind.value;
    orgLabel.hidden = k !== "role";
    replace(list, k === "role" ? vocab.roles.map((r) => h("option", { value: r }))
      : parties.filter((p) => p.kind === k).map((p) => h("option", { value: p.did }, p.label)));
  };
  kind.addEventListener("change", fillOptions);
  fillOptions();
  const scopeKind = h("select", { id: "grant-scope", name: "scope" },
    [["records", "chosen records"], ["categories", "categories"],
      ["resources", "resource types"], ["all", "all my records"]]
      .map(([v, t]) => h("option", { value: v }, t)));
  const scopeParts = {
    records: h("fieldset", { id: "grant-records" }, h("legend", {}, "Records"),
      records.map((r) => h("label", {}, h("input", { type: "checkbox", name: "record",
        value: r.record }), `${r.resource}: ${r.summary || r.record}`))),
    categories: h("fieldset", { hidden: true }, h("legend", {}, "Categories"),
      checkboxes("category", vocab.categories)),
    resources: h("label", { hidden: true }, "Resource types (comma separated)",
      h("input", { name: "resources", placeholder: "Observation, Condition" })),
    all: h("span", { hidden: true }),
  };
  scopeKind.addEventListener("change", () => {
    for (const [k, el] of Object.entries(scopeParts)) el.hidden = k !== scopeKind.value;
  });
  const out = h("div", { id: "grant-result" });
  const form = h("form", { id: "grant-form" },
    h("label", {}, "Grantee kind", kind),
    h("label", {}, "Grantee", grantee, list), orgLabel,
    h("fieldset", {}, h("legend", {}, "May"), checkboxes("action", vocab.actions, ["read"])),
    h("label", {}, "Scope", scopeKind), Object.values(scopeParts),
    h("fieldset", {}, h("legend", {}, "For purposes"),
      checkboxes("purpose", vocab.purposes, ["TREAT"])),
    h("label", {}, "From", h("input", { type: "date", name: "start", required: true,
      value: fmtDate(today) })),
    h("label", {}, "Until", h("input", { type: "date", name: "end", required: true,
      value: fmtDate(today + 30 * DAY) })),
    h("button", { type: "submit", class: "primary", id: "grant-submit" }, "Grant consent"),
    out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const scope = {};
    if (scopeKind.value === "all") scope.all = true;
    if (scopeKind.value === "records") scope.records = checkedValues(form, "record").sort();
    if (scopeKind.value === "categories") scope.categories = checkedValues(form, "category");
    if (scopeKind.value === "resources") {
      scope.resources = [...new Set(form.elements.resources.value.split(",")
        .map((s) => s.trim()).filter(Boolean))].sort();
    }
    const who = { kind: kind.value, id: grantee.value.trim() };
    if (kind.value === "role" && org.value.trim()) who.organization = org.value.trim();
    const start = dateMs(form.elements.start.value);
    const body = { grantee: who, actions: checkedValues(form, "action"), scope,
      purposes: checkedValues(form, "purpose"),
      // a consent starting today starts now: it must not begin in the future
      start_ms: Math.min(start, Date.now() - 1000), end_ms: dateMs(form.elements.end.value, true) };
    const done = await attempt(out, () => api("POST", "patient/consents", body),
      (r) => `Consent ${r.consent} granted.`);
    if (done) await rerender();
  });
  return form;
}

async function renderConsents(body) {
  const [vocab, { consents }, { parties }, { records }] = await Promise.all([vocabulary(),
    api("GET", "patient/consents"), api("GET", "parties"), api("GET", "patient/records")]);
  replace(body,
    consents.length ? h("table", { id: "consents" }, h("thead", {}, h("tr", {},
      ["Grantee", "Actions", "Scope", "Purposes", "Period", "Status", ""]
        .map((t) => h("th", {}, t)))), h("tbody", {}, consents.map(consentRow)))
      : h("p", {}, "You have not granted any consent."),
    h("h3", {}, "Grant a consent"),
    h("p", { class: "note" }, "The grantee can then read the chosen records; keys are "
      + "re-wrapped for them on this computer. Revoking stops every later access."),
    grantForm(vocab, parties, records));
}

function requestRow(r) {
  const out = h("div");
  const until = h("input", { type: "date", value: fmtDate(Date.now() + 30 * DAY) });
  const approve = h("button", { type: "button", class: "primary approve" }, "Approve");
  const deny = h("button", { type: "button", class: "danger deny" }, "Deny");
  approve.addEventListener("click", async () => {
    if (await attempt(out, () => api("POST", `patient/requests/${r.request}/approve`,
      { end_ms: dateMs(until.value, true) }))) await rerender();
  });
  deny.addEventListener("click", async () => {
    if (await attempt(out, () => api("POST", `patient/requests/${r.request}/deny`))) {
      await rerender();
    }
  });
  return h("tr", { dataset: { request: r.request, status: r.status } },
    h("td", {}, partyEl(r.requester)), h("td", {}, scopeText(r.scope)),
    h("td", {}, r.purpose), h("td", {}, badge(r.status)),
    h("td", {}, r.status === "pending" ? [h("label", {}, "until ", until), " ", approve, " ",
      deny] : "", out));
}

async function renderRequests(body) {
  const { requests } = await api("GET", "patient/requests");
  replace(body, requests.length ? h("table", { id: "requests" }, h("thead", {}, h("tr", {},
    ["Requested by", "Scope", "Purpose", "Status", ""].map((t) => h("th", {}, t)))),
  h("tbody", {}, requests.map(requestRow))) : h("p", {}, "No one has asked for your records."));
}

export function logTable(entries, { proofs = false } = {}) {
  return h("table", { id: "access-log" }, h("thead", {}, h("tr", {},
    ["#", "When", "Who", "Action", "Purpose", "Decision", "Reason", "Record", "Verified"]
      .concat(proofs ? ["Inclusion proof"] : []).map((t) => h("th", {}, t)))),
  h("tbody", {}, entries.map((e) => h("tr", { class: e.break_glass ? "break-glass" : "",
    dataset: { index: String(e.index), decision: e.decision || "", reason: e.reason || "",
      accessor: e.accessor || "", verified: String(e.verified) } },
  h("td", {}, String(e.index)), h("td", {}, fmtTime(e.time_ms)),
  h("td", {}, e.accessor_party ? partyEl(e.accessor_party) : didEl(e.accessor)),
  h("td", {}, e.break_glass ? h("strong", {}, "EMERGENCY ") : "", e.action || ""),
  h("td", {}, e.purpose || ""), h("td", {}, badge(e.decision || "?")),
  h("td", {}, e.reason || ""), h("td", {}, h("code", {}, e.record || "")),
  h("td", {}, verifiedEl(e)),
  proofs ? h("td", {}, h("details", {}, h("summary", {}, `${(e.inclusion || []).length} hashes`),
    h("pre", {}, (e.inclusion || []).join("\n")))) : ""))));
}

async function renderLog(body) {
  const log = await api("GET", "patient/access-log");
  replace(body,
    log.break_glass ? h("div", { class: "warning", id: "break-glass-notice" },
      `Emergency (break-glass) access to your records: ${log.break_glass} time(s). `
      + "These rows are highlighted below.") : "",
    h("p", { class: "note" }, `Your log at block ${log.head.height}: ${log.head.size} `
      + "entries. Each is checked against a log head proven against a header signed by "
      + `the ${log.anchored ? "configured trust anchor" : "validator the node names"}. `
      + "Vaults send entries to the chain within seconds: use Refresh."),
    log.entries.length ? logTable(log.entries) : h("p", {}, "No access yet."));
}

const MIN_EXPORT_PASSPHRASE = 12;

function countsList(counts) {
  return h("ul", { id: "export-counts" }, Object.entries(counts).map(([k, v]) =>
    h("li", { dataset: { count: k } }, `${k.replace(/_/g, " ")}: ${v}`)));
}

async function renderExport(body) {
  const out = h("div", { id: "export-result" });
  const passphrase = h("input", { type: "password", id: "export-passphrase",
    autocomplete: "new-password", minlength: MIN_EXPORT_PASSPHRASE, required: true });
  const confirm = h("input", { type: "password", id: "export-confirm",
    autocomplete: "new-password", minlength: MIN_EXPORT_PASSPHRASE, required: true });
  const form = h("form", { id: "export-form" },
    h("label", {}, `Export passphrase (at least ${MIN_EXPORT_PASSPHRASE} characters)`,
      passphrase),
    h("label", {}, "The same passphrase again", confirm),
    h("button", { type: "submit", class: "primary", id: "export" },
      "Download my portable record"), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { passphrase: passphrase.value, confirm: confirm.value };
    passphrase.value = "";
    confirm.value = "";
    const response = await attempt(out, () => api("POST", "patient/export", body,
      { raw: true }));
    if (!response) return;
    const counts = JSON.parse(response.headers.get("X-Portable-Counts") || "{}");
    const url = URL.createObjectURL(await response.blob());
    const link = h("a", { href: url, download: "phrchain-record.phr" });
    document.body.append(link);
    link.click();
    link.remove();
    URL.revokeObjectURL(url);
    replace(out, h("div", { class: "success" }, "Saved as phrchain-record.phr, verified "
      + "before it was sealed:"), countsList(counts));
  });
  replace(body, h("p", {}, "Everything you own, with its proofs, in one file sealed under "
    + "a passphrase you choose: keep both; anyone with the two can read your records."),
  form);
}

registerSection({ id: "patient-records", title: "My records", capability: "patient",
  order: 10, render: renderRecords });
registerSection({ id: "patient-consents", title: "Consents", capability: "patient",
  order: 20, render: renderConsents });
registerSection({ id: "patient-requests", title: "Access requests", capability: "patient",
  order: 30, render: renderRequests });
registerSection({ id: "patient-log", title: "Access log", capability: "patient",
  order: 40, render: renderLog });
registerSection({ id: "patient-export", title: "Export", capability: "export", order: 50,
  render: renderExport });
