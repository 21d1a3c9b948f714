// Auditor sections: chain verification against the trust anchor, and a patient's audit
// log with its inclusion and consistency proofs.
import {
  api, attempt, didEl, fmtTime, h, registerSection, replace, t, verifiedEl,
} from "./app.js";
import { logTable } from "./patient.js";

function row(label, ...value) {
  return h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, ...value));
}

async function renderChain(body) {
  const c = await api("GET", "auditor/chain");
  replace(body, h("table", { id: "chain" },
    row(t("chain.status"), verifiedEl(c)),
    row(t("chain.anchor"), didEl(c.anchor), c.anchored ? "" : ` — ${t("chain.from_node")}`),
    row(t("chain.chain"), c.chain_id || ""),
    row(t("chain.height"), String(c.height ?? "")),
    row(t("chain.time"), fmtTime(c.time_ms)),
    row(t("chain.app_hash"), h("code", {}, c.app_hash || "")),
    row(t("chain.node_height"), String(c.node_height))),
  h("p", { class: "note" }, t("chain.note")));
}

async function renderAudit(body) {
  const out = h("div", { id: "audit-result" });
  const form = h("form", { id: "audit-form" },
    h("label", {}, t("pull.patient"), h("input", { name: "patient", required: true })),
    h("button", { type: "submit", class: "primary" }, t("audit.submit")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const patient = form.elements.patient.value.trim();
    const log = await attempt(out, () => api("GET",
      `auditor/audit?patient=${encodeURIComponent(patient)}`));
    if (!log) return;
    replace(out,
      h("p", {}, t("audit.head", { height: log.head.height, size: log.head.size }), " ",
        h("code", {}, log.head.root)),
      log.entries.length ? logTable(log.entries, { proofs: true })
        : h("p", {}, t("audit.empty")),
      h("h3", {}, t("audit.consistency")),
      log.consistency.length ? h("div", { class: "scroll" }, h("table", { id: "consistency" },
        h("thead", {}, h("tr", {}, ["audit.from", "audit.to", "audit.proof", "audit.verified"]
          .map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, log.consistency.map((s) => h("tr", {},
        h("td", {}, t("audit.point", { height: s.from.height, size: s.from.size })),
        h("td", {}, t("audit.point", { height: s.to.height, size: s.to.size })),
        h("td", {}, h("details", {}, h("summary", {}, t("log.hashes", { n: s.proof.length })),
          h("pre", { tabindex: "0" }, s.proof.join("\n")))),
        h("td", {}, verifiedEl(s)))))))
        : h("p", { class: "note" }, t("audit.single")));
  });
  replace(body, form, out);
}

registerSection({ id: "auditor-chain", title: "nav.chain", capability: "auditor",
  order: 60, render: renderChain });
registerSection({ id: "auditor-audit", title: "nav.audit", capability: "auditor",
  order: 70, render: renderAudit });
