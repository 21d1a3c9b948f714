// Clinical trials: the patient's Trials section (consent to a trial's current protocol
// version at a site, re-consent, withdraw; all under the trial pseudonym the wallet
// derives, never the patient's own DID) and the regulator's outcome-switch report
// (every outcome's labels against the frozen baseline, each proven on chain).
import {
  api, attempt, badge, didEl, fmtTime, h, partyEl, partyLabel, registerSection, replace,
  rerender, t, term, verifiedEl,
} from "./app.js";

function outcomeRows(outcomes, labels = {}, flagged = []) {
  return h("table", { class: "outcomes" }, h("thead", {}, h("tr", {},
    ["trials.outcome", "trials.measure", "trials.time_frame", "trials.kind", "trials.labels"]
      .map((k) => h("th", { scope: "col" }, t(k))))),
  h("tbody", {}, [...outcomes.map((o) => o.id), ...Object.keys(labels)
    .filter((id) => !outcomes.some((o) => o.id === id))].map((id) => {
    const o = outcomes.find((x) => x.id === id) || { measure: "", time_frame: "", kind: "" };
    return h("tr", { dataset: { outcome: id, flagged: String(flagged.includes(id)) } },
      h("td", {}, h("code", {}, id)), h("td", {}, o.measure), h("td", {}, o.time_frame),
      h("td", {}, o.kind ? term("trial_kind", o.kind) : ""),
      h("td", {}, (labels[id] || []).map((l) => h("span", { class: "label",
        dataset: { label: l } }, term("trial_label", l))).reduce((acc, el) => acc.length
        ? [...acc, ", ", el] : [el], [])));
  })));
}

function action(label, cls, out, run) {
  const button = h("button", { type: "button", class: cls }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    if (await attempt(out, run)) await rerender();
    else button.disabled = false;
  });
  return button;
}

function participation(tr) {
  const out = h("div");
  const me = tr.me.participant;
  if (!me) {
    if (tr.locked) return h("p", { class: "note" }, t("trials.closed"));
    const select = h("select", { name: "site" }, tr.sites.map((s) => h("option",
      { value: s.did }, partyLabel(s))));
    return h("div", {}, h("p", { class: "note" }, t("trials.consent_note",
      { version: tr.version })), h("label", {}, t("trials.site"), select),
    action(t("trials.enrol"), "primary enrol", out, () => api("POST",
      `patient/trials/${tr.trial}/enrol`, { site: select.value })), out);
  }
  const needs = me.status === "active" && me.consent_version < tr.reconsent_version;
  return h("div", {},
    h("p", {}, badge(me.status), " ", t("trials.consented", { version: me.consent_version }),
      " ", t("trials.as"), " ", didEl(me.participant)),
    needs ? h("p", { class: "warning" }, t("trials.reconsent_needed",
      { version: tr.version })) : "",
    needs ? action(t("trials.reconsent"), "primary reconsent", out,
      () => api("POST", `patient/trials/${tr.trial}/reconsent`)) : "",
    me.status === "active" ? action(t("trials.withdraw"), "danger withdraw", out,
      () => api("POST", `patient/trials/${tr.trial}/withdraw`)) : "", out);
}

async function renderPatient(body) {
  const found = await api("GET", "patient/trials");
  replace(body, h("p", { class: "note" }, t("trials.patient_note")),
    found.trials.length ? found.trials.map((tr) => h("div",
      { class: "trial", dataset: { trial: tr.trial } },
      h("h4", {}, tr.title, " ", h("code", { class: "note" }, tr.trial.slice(0, 8))),
      h("p", {}, t("trials.sponsor"), " ", partyEl(tr.sponsor), " · ",
        t("trials.starts", { when: fmtTime(tr.start_ms) }), " · ",
        t("trials.version", { version: tr.version })),
      participation(tr))) : h("p", {}, t("trials.none")));
}

async function renderRegulator(body) {
  const found = await api("GET", "auditor/trials");
  replace(body, h("p", { class: "note" }, t("trials.report_note")),
    found.trials.length ? found.trials.map((tr) => h("div",
      { class: "trial", dataset: { trial: tr.trial } },
      h("h4", {}, tr.title, " ", h("code", { class: "note" }, tr.trial.slice(0, 8))),
      h("p", {}, t("trials.sponsor"), " ", partyEl(tr.sponsor), " · ",
        tr.baseline ? t("trials.baseline", { version: tr.baseline })
          : t("trials.no_baseline"), " · ",
        tr.reported ? t("trials.discrepancies", { n: tr.discrepancies.length })
          : t("trials.no_results")),
      tr.proof ? h("p", {}, t("trials.proof"), " ", verifiedEl(tr.proof)) : "",
      outcomeRows(tr.baseline_outcomes || tr.outcomes, tr.labels, tr.discrepancies)))
      : h("p", {}, t("trials.none")));
}

registerSection({ id: "patient-trials", title: "nav.trials", capability: "patient",
  order: 48, render: renderPatient });
registerSection({ id: "auditor-trials", title: "nav.outcomes", capability: "auditor",
  order: 80, render: renderRegulator });
