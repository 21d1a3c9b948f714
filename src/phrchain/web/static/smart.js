// The consent screen for a SMART on FHIR app (web/smart.py): what the app asks, and the
// patient's approval, which is a consent signed by the patient's key on chain.
import { api, attempt, didEl, h, registerSection, replace, t, term } from "./app.js";

export function smartAsked() {
  const q = new URLSearchParams(window.location.search);
  const gateway = q.get("smart_gateway");
  const request = q.get("smart_request");
  return gateway && request ? { gateway, request } : null;
}

function typesText(types) {
  return types.includes("*") ? t("smart.all_types") : types.join(", ");
}

async function render(body) {
  const asked = smartAsked();
  if (!asked) {
    replace(body, h("p", { id: "smart-none" }, t("smart.none")));
    return;
  }
  const found = await api("GET", `patient/smart/request?gateway=${encodeURIComponent(
    asked.gateway)}&request=${encodeURIComponent(asked.request)}`);
  const out = h("div", { id: "smart-result", "aria-live": "polite" });
  const days = h("select", { id: "smart-days", name: "days" },
    [1, 30, 90, 365].map((d) => h("option", { value: String(d), selected: d === 90 },
      t("smart.days", { days: d }))));
  const decide = (path) => async () => {
    const answer = await attempt(out, () => api("POST", `patient/smart/${path}`, {
      gateway: asked.gateway, request: asked.request, days: Number(days.value) }));
    if (!answer) return;
    replace(out, h("p", { id: "smart-done" }, t(path === "approve" ? "smart.approved"
      : "smart.denied")));
    body.dataset.redirect = answer.redirect;
    window.location.assign(answer.redirect);
  };
  replace(body,
    h("p", { id: "smart-app" }, t("smart.asks", { app: found.app })),
    h("dl", { id: "smart-what" },
      h("dt", {}, t("smart.types")), h("dd", {}, typesText(found.types)),
      h("dt", {}, t("smart.purpose")), h("dd", {}, term("purpose", found.purpose)),
      found.stays ? [h("dt", {}, t("smart.stays")),
        h("dd", { id: "smart-stays" }, t(found.stays === "offline" ? "smart.stays_offline"
          : "smart.stays_online"))] : null,
      h("dt", {}, t("smart.keeper")), h("dd", {}, found.institution_label || "",
        " ", didEl(found.institution))),
    h("p", { class: "note" }, t("smart.note")),
    h("label", {}, t("smart.period"), " ", days),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "smart-approve", class: "primary",
        onclick: decide("approve") }, t("smart.approve")),
      h("button", { type: "button", id: "smart-deny", onclick: decide("deny") },
        t("smart.deny"))),
    out);
}

registerSection({ id: "patient-smart", title: "nav.smart", capability: "patient",
  order: 47, render });
