// Auditor sections: chain verification against the trust anchor, and a patient's audit
// log with its inclusion and consistency proofs.
import { api, attempt, didEl, fmtTime, h, registerSection, replace, verifiedEl } from "./app.js";
import { logTable } from "./patient.js";

function row(label, ...value) {
  return h("tr", {}, h("th", {}, label), h("td", {}, ...value));
}

async function renderChain(body) {
  const c = await api("GET", "auditor/chain");
  replace(body, h("table", { id: "chain" },
    row("Status", verifiedEl(c)),
    row("Trust anchor (validator)", didEl(c.anchor), c.anchored ? ""
      : " — taken from the node itself: no anchor is configured"),
    row("Chain", c.chain_id || ""),
    row("Latest verified height", String(c.height ?? "")),
    row("Block time", fmtTime(c.time_ms)),
    row("App hash", h("code", {}, c.app_hash || "")),
    row("Node reports height", String(c.node_height))),
  h("p", { class: "note" }, "The latest header's signature and chain id are checked "
    + "against the anchor, and its app hash by proving one state key against it."));
}

async function renderAudit(body) {
  const out = h("div", { id: "audit-result" });
  const form = h("form", { id: "audit-form" },
    h("label", {}, "Patient DID", h("input", { name: "patient", required: true, size: 60 })),
    h("button", { type: "submit", class: "primary" }, "Look up and verify"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const patient = form.elements.patient.value.trim();
    const log = await attempt(out, () => api("GET",
      `auditor/audit?patient=${encodeURIComponent(patient)}`));
    if (!log) return;
    replace(out,
      h("p", {}, `Log head at block ${log.head.height}: ${log.head.size} entries, root `,
        h("code", {}, log.head.root)),
      log.entries.length ? logTable(log.entries, { proofs: true }) : h("p", {}, "Empty log."),
      h("h3", {}, "Consistency (the log only grew)"),
      log.consistency.length ? h("table", { id: "consistency" }, h("thead", {}, h("tr", {},
        ["From", "To", "Proof", "Verified"].map((t) => h("th", {}, t)))),
      h("tbody", {}, log.consistency.map((s) => h("tr", {},
        h("td", {}, `height ${s.from.height}, size ${s.from.size}`),
        h("td", {}, `height ${s.to.height}, size ${s.to.size}`),
        h("td", {}, h("details", {}, h("summary", {}, `${s.proof.length} hashes`),
          h("pre", {}, s.proof.join("\n")))),
        h("td", {}, verifiedEl(s))))))
        : h("p", { class: "note" }, "A single head: nothing to compare."));
  });
  replace(body, form, out);
}

registerSection({ id: "auditor-chain", title: "Chain verification", capability: "auditor",
  order: 60, render: renderChain });
registerSection({ id: "auditor-audit", title: "Audit log lookup", capability: "auditor",
  order: 70, render: renderAudit });
