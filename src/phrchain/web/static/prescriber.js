// The prescriber's page: write a prescription (product by GTIN or KD code from the
// registered products, packs per fill, refills, days of supply, validity), with a
// warning when the chain's parameter table does not let this prescriber's roles
// prescribe the product's controlled class (the chain decides at the first fill); list
// this prescriber's prescriptions with their state and cancel one. A refusal shows its
// stable reason in this language.
import {
  api, badge, fmtDate, h, partyLabel, registerSection, replace, rerender, t, term, UiError,
} from "./app.js";

const DAY_MS = 86400000;

function refusal(err) {
  if (!(err instanceof UiError)) {
    return h("div", { class: "error", role: "alert" }, String(err && err.message || err));
  }
  const words = term("supply_reason", err.name_);
  return h("div", { class: "error rx-refused", role: "alert",
    dataset: { codespace: err.codespace, code: String(err.code), name: err.name_ } },
  h("strong", {}, t("rx.refused")), " ", words !== err.name_ ? words : err.message, " ",
  h("code", {}, `${err.codespace}/${err.code} ${err.name_}`));
}

function productNote(p) {
  const cls = term("controlled", p.controlled);
  return [h("span", {}, p.name, " · ", cls),
    p.allowed ? "" : h("p", { id: "rx-class-warning", class: "warning", role: "status" },
      t("rx.class_warning", { cls }))];
}

function field(id, label, attrs) {
  return [h("label", { for: id }, t(label)), h("input", { id, name: id, ...attrs })];
}

function writeForm() {
  const product = h("div", { id: "rx-product", "aria-live": "polite" });
  const out = h("div", { id: "rx-outcome", "aria-live": "polite" });
  const num = (min, max, value) => ({ type: "number", min: String(min), max: String(max),
    value: String(value), required: true });
  const form = h("form", { id: "rx-form" },
    ...field("rx-patient", "rx.patient", { type: "text", required: true,
      autocomplete: "off", spellcheck: "false" }),
    ...field("rx-gtin", "rx.gtin", { type: "text", inputmode: "numeric", required: true,
      autocomplete: "off", pattern: "[0-9]{13,14}", "aria-describedby": "rx-gtin-help" }),
    h("p", { id: "rx-gtin-help", class: "note" }, t("rx.gtin_help")), product,
    ...field("rx-quantity", "rx.quantity", num(1, 1000, 1)),
    ...field("rx-refills", "rx.refills", num(0, 99, 0)),
    ...field("rx-days", "rx.days", num(1, 366, 7)),
    ...field("rx-valid", "rx.valid", num(1, 366, 30)),
    ...field("rx-label", "rx.label", { type: "text", autocomplete: "off" }),
    h("button", { type: "submit", id: "rx-submit", class: "primary" }, t("rx.write")), out);
  const value = (id) => form.querySelector(`#${id}`).value.trim();
  form.querySelector("#rx-gtin").addEventListener("change", async () => {
    const code = value("rx-gtin");
    if (!/^[0-9]{13,14}$/.test(code)) return;
    try {
      replace(product, ...productNote(await api("GET", `prescriber/products/${code}`)));
    } catch (err) {
      replace(product, refusal(err));
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const submit = form.querySelector("#rx-submit");
    submit.disabled = true;
    replace(out, h("span", { class: "note" }, t("common.working")));
    try {
      const done = await api("POST", "prescriber/prescriptions", {
        patient: value("rx-patient"), gtin: value("rx-gtin"),
        quantity: Number(value("rx-quantity")), refills: Number(value("rx-refills")),
        days_supply: Number(value("rx-days")), valid_days: Number(value("rx-valid")),
        label: value("rx-label") });
      await rerender();
      const el = document.getElementById("rx-outcome");
      if (el) {
        replace(el, h("div", { id: "rx-done", class: "success", role: "status",
          dataset: { record: done.record } }, t("rx.written", { label: done.label }),
        done.product.allowed ? "" : h("p", { class: "warning" },
          t("rx.class_warning", { cls: term("controlled", done.product.controlled) }))));
      }
    } catch (err) {
      replace(out, refusal(err));
      submit.disabled = false;
    }
  });
  return form;
}

function cancelButton(p) {
  const out = h("span", { "aria-live": "polite" });
  const button = h("button", { type: "button", class: "cancel-rx",
    "aria-label": t("rx.cancel_named", { label: p.label }) }, t("rx.cancel"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api("POST", `prescriber/prescriptions/${p.record}/cancel`, {});
      await rerender();
    } catch (err) {
      replace(out, refusal(err));
      button.disabled = false;
    }
  });
  return [button, out];
}

function rxRow(p) {
  const until = p.issued_day != null && p.valid_days != null
    ? t("rx.valid_until", { date: fmtDate((p.issued_day + p.valid_days - 1) * DAY_MS) }) : "";
  return h("li", { class: "card rx-row", dataset: { record: p.record, status: p.status } },
    h("p", {}, h("strong", {}, p.label), " ", badge(p.status)),
    h("p", { class: "note" }, t("rx.terms", { quantity: p.quantity, refills: p.refills,
      days: p.days_supply }), " · ", t("rx.fills", { fills: p.fills, of: p.refills + 1 }),
    until ? [" · ", until] : ""),
    h("p", { class: "note" }, t("rx.for"), " ", partyLabel(p.patient), " · ",
      p.registered ? t("rx.registered") : t("rx.signed_only")),
    p.status === "active" ? cancelButton(p) : "");
}

async function renderPrescriber(body) {
  const found = await api("GET", "prescriber/prescriptions");
  if (!found.configured) {
    replace(body, h("p", { id: "rx-not-configured" },
      t(found.prescriber ? "rx.not_configured" : "rx.not_prescriber")));
    return;
  }
  const list = found.prescriptions.length
    ? h("ul", { id: "my-prescriptions" }, found.prescriptions.map(rxRow))
    : h("p", { id: "my-prescriptions-empty" }, t("rx.none"));
  replace(body, h("p", { class: "note" }, t("rx.note")), writeForm(),
    h("h3", {}, t("rx.mine")), list);
}

registerSection({ id: "prescriber-prescriptions", title: "nav.prescribe",
  capability: "provider", order: 25, render: renderPrescriber });
