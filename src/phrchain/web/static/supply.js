// Drug supply: the pharmacist's dispense screen (scan or paste GS1 element strings, pick
// the prescription, dispense; a refusal shows its stable reason in this language), the
// regulator's alert board (rule, when it fired, who was notified, closure; close with an
// outcome) and the patient's medication history (its own dispenses, controlled ones
// marked, and every prescriber's statutory read of that history).
import {
  api, badge, fmtDate, fmtTime, h, partyEl, partyLabel, registerSection, replace, rerender,
  t, term, UiError, verifiedEl,
} from "./app.js";

const DAY_MS = 86400000;

// A refusal in words: the chain's (codespace supply) or the pharmacy's own reason, by
// its stable name, in this language; the code and the node's sentence after it.
function refusal(err) {
  if (!(err instanceof UiError)) {
    return h("div", { class: "error", role: "alert" }, String(err && err.message || err));
  }
  const words = term("supply_reason", err.name_);
  return h("div", { id: "dispense-refused", class: "error", role: "alert",
    dataset: { codespace: err.codespace, code: String(err.code), name: err.name_ } },
  h("strong", {}, t("supply.refused")), " ",
  words !== err.name_ ? words : err.message, " ",
  h("code", {}, `${err.codespace}/${err.code} ${err.name_}`));
}

function packList(units) {
  return h("ul", { class: "packs" }, units.map((u) => h("li",
    { dataset: { unit: u.unit, controlled: u.controlled } },
    u.name, " · ", term("controlled", u.controlled), " · ",
    t("supply.lot", { lot: u.lot }), " ", h("code", {}, u.unit))));
}

function rxText(p) {
  return t("supply.rx_terms", { quantity: p.quantity, refills: p.refills,
    days: p.days_supply });
}

function rxState(p) {
  if (p.record_status !== "active") {
    return h("span", { class: "warning" }, t("supply.rx_record_inactive"));
  }
  if (!p.registered) {
    return p.signed ? h("span", {}, t("supply.rx_signed"))
      : h("span", { class: "warning" }, t("supply.rx_unregistered"));
  }
  const r = p.registered;
  return h("span", {}, badge(r.status), " ", t("supply.rx_fills",
    { fills: r.fills, of: r.refills + 1 }), " · ", t("supply.rx_valid_until",
    { date: fmtDate((r.day + r.valid_days - 1) * DAY_MS) }));
}

async function renderDispense(body) {
  const found = await api("GET", "pharmacy/prescriptions");
  const out = h("div", { id: "dispense-outcome", "aria-live": "polite" });
  if (!found.prescriptions.length) {
    replace(body, h("p", {}, t("supply.no_prescriptions")));
    return;
  }
  const choices = h("fieldset", { id: "prescriptions" }, h("legend", {}, t("supply.pick")),
    found.prescriptions.map((p, i) => {
      const id = `rx-${i}`;
      return h("label", { class: "rx pick", for: id, dataset: { record: p.record } },
        h("input", { type: "radio", name: "rx", id, value: p.record, checked: i === 0 }),
        h("span", {}, p.label || p.record, " — ", rxText(p), " · ", t("supply.prescriber"),
          " ", partyLabel(p.prescriber), h("span", { class: "note" }, rxState(p))));
    }));
  const codes = h("textarea", { id: "scan-codes", rows: "4", spellcheck: "false",
    autocomplete: "off", "aria-describedby": "scan-help" });
  const stewardship = h("input", { id: "stewardship", type: "text", autocomplete: "off" });
  const exemption = h("input", { id: "exemption", type: "text", autocomplete: "off" });
  const submit = h("button", { type: "submit", id: "dispense-submit", class: "primary" },
    t("supply.dispense"));
  const form = h("form", { id: "dispense-form" }, choices,
    h("label", { for: "scan-codes" }, t("supply.scans")),
    h("p", { id: "scan-help", class: "note" }, t("supply.scans_help")), codes,
    h("details", {}, h("summary", {}, t("supply.codes")),
      h("label", { for: "stewardship" }, t("supply.stewardship")), stewardship,
      h("label", { for: "exemption" }, t("supply.exemption")), exemption),
    submit, out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const picked = form.querySelector("input[name=rx]:checked");
    const lines = codes.value.split(/\n+/).map((s) => s.trim()).filter(Boolean);
    submit.disabled = true;
    replace(out, h("span", { class: "note" }, t("common.working")));
    try {
      const done = await api("POST", "pharmacy/dispense", {
        record: picked ? picked.value : "", codes: lines,
        ...(stewardship.value.trim() ? { stewardship: stewardship.value.trim() } : {}),
        ...(exemption.value.trim() ? { exemption: exemption.value.trim() } : {}) });
      codes.value = "";
      replace(out, h("div", { id: "dispense-done", class: "success",
        dataset: { dispense: done.dispense } },
      t("supply.dispensed", { n: done.units.length }), packList(done.units),
      done.alerts.length ? h("p", { class: "warning" }, t("supply.alerts_raised", {
        kinds: done.alerts.map((a) => term("alert_kind", a.kind)).join(", ") })) : ""));
    } catch (err) {
      replace(out, refusal(err));
    }
    submit.disabled = false;
  });
  replace(body, h("p", { class: "note" }, t("supply.dispense_note")), form);
}

function closeForm(a, outcomes) {
  const id = `outcome-${a.alert}`;
  const select = h("select", { id }, outcomes.map((o) => h("option", { value: o },
    term("alert_outcome", o))));
  const out = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "button", class: "close-alert" }, t("supply.close"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api("POST", `auditor/supply/alerts/${a.alert}/close`, { outcome: select.value });
      await rerender();
    } catch (err) {
      replace(out, refusal(err));
      button.disabled = false;
    }
  });
  return h("div", { class: "close-form" }, h("label", { for: id }, t("supply.outcome")),
    select, button, out);
}

async function renderBoard(body) {
  const found = await api("GET", "auditor/supply/alerts");
  if (!found.alerts.length) {
    replace(body, h("p", {}, t("supply.no_alerts")));
    return;
  }
  const rows = found.alerts.map((a) => h("tr", { class: "alert-row",
    dataset: { alert: a.alert, status: a.status, kind: a.kind } },
  h("td", {}, term("alert_kind", a.kind), h("div", { class: "note" },
    t("supply.detail", { value: a.detail }))),
  h("td", {}, t("supply.fired", { height: a.height, when: fmtTime(a.time_ms) }), " ",
    a.proof ? verifiedEl(a.proof) : ""),
  h("td", {}, h("ul", { class: "notified" }, a.notify.map((n) => h("li", {},
    n.did ? partyEl(n) : term("notify", n.kind))))),
  h("td", {}, badge(a.status), a.outcome ? [" ", term("alert_outcome", a.outcome)] : "",
    a.closed_by ? h("div", { class: "note" }, t("supply.closed_by", {
      who: partyLabel(a.closed_by), height: a.closed_height })) : "",
    a.status === "open" ? closeForm(a, found.outcomes) : "")));
  replace(body, h("p", { class: "note" }, t("supply.board_note")),
    h("table", { id: "alert-board" }, h("thead", {}, h("tr", {},
      ["supply.trigger", "supply.when", "supply.notified", "supply.state"].map((k) =>
        h("th", { scope: "col" }, t(k))))), h("tbody", {}, rows)));
}

async function renderHistory(body) {
  const found = await api("GET", "patient/supply/history");
  if (!found.configured) {
    replace(body, h("p", {}, t("supply.no_tag")));
    return;
  }
  const reads = found.reads.length ? h("div", { class: "warning", id: "history-read-notice",
    role: "status" }, t("supply.reads_notice", { n: found.reads.length }),
  h("ul", { id: "history-reads" }, found.reads.map((r) => h("li",
    { class: "history-read", dataset: { reader: r.reader.did, purpose: r.purpose } },
    fmtTime(r.time_ms), " — ", partyEl(r.reader), " ", t("supply.read_purpose", {
      purpose: term("read_purpose", r.purpose) }))))) : "";
  const list = found.dispenses.length ? h("ul", { id: "medications" },
    found.dispenses.map((d) => h("li", { class: "card medication",
      dataset: { dispense: d.dispense, controlled: String(d.controlled) } },
    h("p", {}, h("strong", {}, fmtDate(d.day * DAY_MS)), " · ",
      t("supply.days_supply", { days: d.days_supply }),
      d.controlled ? [" ", h("span", { class: "flag" }, t("supply.controlled"))] : ""),
    packList(d.units),
    h("p", { class: "note" }, t("supply.prescriber"), " ", partyEl(d.prescriber), " · ",
      t("supply.pharmacy"), " ", partyEl(d.pharmacy)),
    d.alerts.length ? h("p", { class: "note" }, t("supply.alerts_on", { kinds: d.alerts
      .map((a) => term("alert_kind", a.kind)).join(", ") })) : "")))
    : h("p", {}, t("supply.no_dispenses"));
  replace(body, h("p", { class: "note" }, t("supply.history_note")), reads, list);
}

registerSection({ id: "pharmacy-dispense", title: "nav.dispense", capability: "pharmacy",
  order: 5, render: renderDispense });
registerSection({ id: "auditor-alerts", title: "nav.alerts", capability: "auditor",
  order: 82, render: renderBoard });
registerSection({ id: "patient-medications", title: "nav.medications",
  capability: "patient", order: 46, render: renderHistory });
