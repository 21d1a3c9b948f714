// Research donation: the patient's Research section — for each identity (pseudonym) its
// donation in DUO terms and every study that used its data (a dataset manifest on chain
// holds its records), with what the release reached (k, l).
import { api, badge, didEl, fmtTime, h, partyEl, registerSection, replace, t } from "./app.js";

function terms(d) {
  const perm = d.permission.code + (d.permission.disease ? ` ${d.permission.disease}` : "");
  const mods = d.modifiers.map((m) => m.code + (m.param === undefined ? ""
    : `=${Array.isArray(m.param) ? m.param.join(",") : m.param}`));
  return [perm, ...mods].join(" · ");
}

function useRow(u) {
  return h("tr", { dataset: { dataset: u.dataset, study: u.study } },
    h("td", {}, h("code", {}, u.study.slice(0, 8))), h("td", {}, partyEl(u.institute)),
    h("td", {}, u.purpose.code + (u.purpose.disease ? ` ${u.purpose.disease}` : "")),
    h("td", {}, t(u.for_profit ? "research.for_profit" : "research.not_for_profit")),
    h("td", {}, partyEl(u.custodian)), h("td", {}, fmtTime(u.released_ms)),
    h("td", {}, t("research.kl", { k: u.k, l: u.l })),
    h("td", {}, u.key_destroyed ? t("research.key_destroyed") : ""));
}

function identity(item) {
  const d = item.donation;
  return h("div", { class: "donation", dataset: { pseudonym: item.pseudonym } },
    h("p", {}, t("research.as"), " ", didEl(item.pseudonym)),
    d ? h("p", {}, badge(d.status), " ", t("research.terms"), " ", h("code", {}, terms(d)),
      " · ", t("research.until", { when: fmtTime(d.period.end_ms) }),
      " · ", t("research.version", { version: d.version }))
      : h("p", { class: "note" }, t("research.no_donation")),
    item.uses.length ? h("table", { class: "uses" }, h("thead", {}, h("tr", {},
      ["research.study", "research.institute", "research.purpose", "research.profit",
        "research.custodian", "research.released", "research.gates", "research.key"]
        .map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, item.uses.map(useRow)))
      : h("p", {}, t("research.no_uses")));
}

async function renderPatient(body) {
  const found = await api("GET", "patient/research");
  replace(body, h("p", { class: "note" }, t("research.patient_note")),
    found.identities.length ? found.identities.map(identity)
      : h("p", {}, t("research.no_identities")));
}

registerSection({ id: "patient-research", title: "nav.research", capability: "patient",
  order: 49, render: renderPatient });
