// Genomic data: the patient's Genome section — each object kept for them, who holds a
// key to it, and who read which region or range, when, and whether it was permitted.
import { api, fmtTime, h, partyEl, registerSection, replace, t, term } from "./app.js";

function readRows(reads) {
  if (!reads.length) return h("p", { class: "note" }, t("genome.no_reads"));
  return h("table", {},
    h("thead", {}, h("tr", {}, ["genome.reader", "genome.what", "genome.decision",
      "genome.when"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, reads.map((r) => {
      const [decision, reason] = r.decision.split(":");
      return h("tr", { class: decision === "permit" ? "" : "denied" },
        h("td", {}, partyEl(r.reader)), h("td", {}, r.what),
        h("td", {}, term("status", decision), reason ? ` (${reason})` : ""),
        h("td", {}, fmtTime(r.at_ms)));
    })));
}

async function render(body) {
  const found = await api("GET", "patient/genome");
  replace(body, h("p", { class: "note" }, t("genome.note")),
    found.objects.length ? found.objects.map((o) => h("div", { class: "card genome" },
      h("h3", {}, t("genome.object"), " ", h("code", {}, o.id.slice(0, 16))),
      h("p", {}, t("genome.kept_by"), " ", partyEl(o.custodian), " · ",
        t("genome.readers"), " ", ...o.readers.map((r) => partyEl(r))),
      readRows(o.reads)))
      : h("p", {}, t("genome.none")),
    found.unreachable.length ? h("p", { class: "warning" }, t("genome.unreachable"),
      " ", ...found.unreachable.map((p) => partyEl(p))) : "");
}

registerSection({ id: "patient-genome", title: "nav.genome", capability: "patient",
  order: 47, render });
