// Claims and settlement: the patient's Claims section (balances, bills, claims; pay,
// appeal, FHIR ExplanationOfBenefit), the insurer reviewer's referred claims, and the
// regulator's claims by reason code. Amounts arrive from the backend as
// {amount, currency, text}; fmtMoney shows them in the page's language (nothing here
// computes with money).
import {
  api, attempt, badge, checkedValues, didEl, fmtDate, fmtFhirDate, fmtMoney, fmtTime, h,
  partyEl, partyLabel, registerSection, replace, rerender, resourceCard, summaryText, t,
  term, vocabulary,
} from "./app.js";

const DAY_MS = 86400000;
const MAX_RECORDS = 16; // claims/file names 1-16 records
let justFiled = null;

function reasonList(reasons) {
  if (!reasons.length) return h("span", { class: "note" }, t("claims.no_reasons"));
  return h("ul", { class: "reasons" }, reasons.map((r) => h("li",
    { dataset: { reason: r.code } }, term("claim_reason", r.code), " ",
    h("code", { class: "note" }, r.code))));
}

function actionButton(label, cls, out, action) {
  const button = h("button", { type: "button", class: cls }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    if (await attempt(out, action)) await rerender();
    else button.disabled = false;
  });
  return button;
}

function billRow(b) {
  const out = h("div");
  return h("tr", { dataset: { bill: b.bill, status: b.status } },
    h("td", {}, fmtTime(b.time_ms)), h("td", {}, partyEl(b.provider)),
    h("td", { class: "money" }, fmtMoney(b.amount)), h("td", {}, badge(b.status)),
    h("td", {}, b.status === "open" ? actionButton(t("claims.pay"), "primary pay", out,
      () => api("POST", `patient/bills/${b.bill}/pay`)) : "", out));
}

function claimBlock(cl) {
  const out = h("div");
  const eob = h("div", { class: "eob" });
  const showEob = h("button", { type: "button", class: "eob-button" },
    t("claims.eob"));
  showEob.addEventListener("click", async () => {
    const fhir = await attempt(eob, () => api("GET", `patient/claims/${cl.claim}/fhir`));
    if (fhir) {
      replace(eob, h("details", { open: true }, h("summary", {}, t("claims.eob_title")),
        h("pre", { tabindex: "0" }, JSON.stringify(fhir.ExplanationOfBenefit, null, 2))));
    }
  });
  return h("div", { class: "claim", dataset: { claim: cl.claim, status: cl.status } },
    h("h4", {}, t("claims.claim"), " ", h("code", {}, cl.claim.slice(0, 8)), " ",
      badge(cl.status), cl.appealed ? ` ${t("claims.appealed")}` : "", " ",
      t("claims.to"), " ", partyEl(cl.insurer)),
    h("table", {}, h("tbody", {},
      h("tr", {}, h("th", { scope: "row" }, t("claims.claimed")),
        h("td", { class: "money" }, fmtMoney(cl.amount))),
      h("tr", {}, h("th", { scope: "row" }, t("claims.payout")),
        h("td", { class: "money payout" }, fmtMoney(cl.payout))),
      h("tr", {}, h("th", { scope: "row" }, t("claims.payment")), h("td", {},
        badge(cl.payment), cl.paid.amount ? ` ${fmtMoney(cl.paid)}` : "")),
      cl.deadline_ms ? h("tr", {}, h("th", { scope: "row" }, t("claims.deadline")),
        h("td", {}, fmtTime(cl.deadline_ms))) : "",
      h("tr", {}, h("th", { scope: "row" }, t("claims.reasons")),
        h("td", {}, reasonList(cl.reasons))),
      h("tr", {}, h("th", { scope: "row" }, t("claims.records")), h("td", {}, h("ul", {},
        cl.records.map((r) => h("li", {}, h("code", {}, r)))))))),
    cl.appealable ? actionButton(t("claims.appeal"), "appeal", out,
      () => api("POST", `patient/claims/${cl.claim}/appeal`)) : "",
    " ", showEob, out, eob);
}

// -- the patient files a claim by picking records ----------------------------------------
function recordLabel(r) {
  return t("file.record_label", { type: term("resource", r.resource || ""),
    date: r.date ? fmtFhirDate(r.date, { day: true }) : fmtDate(r.registered_ms),
    institution: partyLabel(r.custodian) || r.custodian.did });
}

function outcomeBlock(cl) {
  return h("div", { id: "claim-outcome", role: "status", dataset: { claim: cl.claim,
    status: cl.status } },
  h("p", {}, t("file.outcome", { claim: cl.claim.slice(0, 8), status: term("status", cl.status),
    payout: fmtMoney(cl.payout) }), " ", badge(cl.payment)),
  reasonList(cl.reasons));
}

function claimForm(form) {
  const bills = h("select", { id: "claim-bill", name: "bill" }, form.bills.map((b) =>
    h("option", { value: b.bill }, t("file.bill_option", { date: fmtDate(b.time_ms),
      provider: partyLabel(b.provider), amount: fmtMoney(b.amount) }))));
  const lines = h("ul", { id: "claim-lines" });
  const showLines = () => {
    const bill = form.bills.find((b) => b.bill === bills.value);
    replace(lines, (bill ? bill.lines : []).map((l) => h("li", {}, `${l.display} `,
      h("span", { class: "money" }, fmtMoney(l.amount)))));
  };
  const products = h("select", { id: "claim-product", name: "product" }, form.products.map(
    (p) => h("option", { value: `${p.insurer.did}|${p.product}`, disabled: !p.key },
      `${p.name} — ${partyLabel(p.insurer)}${p.key ? "" : ` ${t("file.no_key")}`}`)));
  const picks = h("fieldset", { id: "claim-records" }, h("legend", {}, t("file.records")),
    form.records.map((r) => h("label", { class: "pick" }, h("input", { type: "checkbox",
      name: "record", value: r.record }), h("span", {}, recordLabel(r),
      summaryText(r) ? h("span", { class: "note" }, summaryText(r)) : ""))));
  const preview = h("div", { id: "claim-preview", "aria-live": "polite" });
  const submit = h("button", { type: "submit", id: "claim-submit", class: "primary" },
    t("file.submit"));
  const out = h("div");
  const el = h("form", { id: "claim-form" },
    h("p", { class: "note" }, t("file.intro")),
    h("label", {}, t("file.bill"), bills), h("h4", {}, t("file.lines")), lines,
    h("label", {}, t("file.product"), products), picks, preview, submit, out);
  const picked = () => checkedValues(el, "record");
  const showPreview = () => {
    const ids = picked();
    const product = form.products.find((p) => `${p.insurer.did}|${p.product}` === products.value);
    submit.disabled = !ids.length || ids.length > MAX_RECORDS || !product || !product.key;
    if (!ids.length) return replace(preview, h("p", {}, t("file.pick")));
    if (ids.length > MAX_RECORDS) return replace(preview, h("p", {}, t("file.too_many",
      { n: MAX_RECORDS })));
    const chosen = form.records.filter((r) => ids.includes(r.record));
    return replace(preview, h("p", {}, t("file.sentence", {
      insurer: product ? partyLabel(product.insurer) : "", n: ids.length,
      until: fmtDate(Date.now() + form.consent_days * DAY_MS) })),
    h("ul", {}, chosen.map((r) => h("li", { dataset: { record: r.record } }, recordLabel(r)))));
  };
  bills.addEventListener("change", showLines);
  el.addEventListener("change", showPreview);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    const [insurer, product] = products.value.split("|");
    submit.disabled = true;
    const filed = await attempt(out, () => api("POST", "patient/claims", {
      bill: bills.value, insurer, product, records: picked() }));
    if (filed) {
      justFiled = filed; // shown above the refreshed claims list
      await rerender();
    } else submit.disabled = false;
  });
  showLines();
  showPreview();
  return el;
}

async function openClaimForm(box) {
  const form = await attempt(box, () => api("GET", "patient/claim-form"));
  if (!form) return;
  if (!form.bills.length) return replace(box, h("p", {}, t("file.no_bills")));
  if (!form.products.length) return replace(box, h("p", {}, t("file.no_products")));
  return replace(box, claimForm(form));
}

async function renderClaims(body) {
  const { balances, bills, claims } = await api("GET", "patient/claims");
  const box = h("div", { id: "file-claim" }, justFiled ? outcomeBlock(justFiled) : "");
  justFiled = null;
  const open = h("button", { type: "button", id: "file-claim-open", class: "primary" },
    t("file.open"));
  open.addEventListener("click", () => openClaimForm(box));
  replace(body, open, box,
    h("h3", {}, t("claims.balances")),
    balances.length ? h("ul", { id: "balances" }, balances.map((b) => h("li",
      { dataset: { currency: b.currency } }, h("span", { class: "money" }, fmtMoney(b)))))
      : h("p", {}, t("claims.no_balance")),
    h("h3", {}, t("claims.bills")),
    bills.length ? h("div", { class: "scroll" }, h("table", { id: "bills" }, h("thead", {},
      h("tr", {}, ["claims.billed", "claims.by", "claims.amount", "claims.status", "claims.act"]
        .map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, bills.map(billRow)))) : h("p", {}, t("claims.no_bills")),
    h("h3", {}, t("claims.claims")),
    h("p", { class: "note" }, t("claims.note")),
    claims.length ? h("div", { id: "claims" }, claims.map(claimBlock))
      : h("p", {}, t("claims.none")));
}

// -- insurer reviewer --------------------------------------------------------------------
function reviewBlock(cl, reasons) {
  const out = h("div");
  const records = h("div", { class: "claim-records" });
  const amount = h("input", { type: "number", min: 0, step: 1, name: "amount",
    value: String(Math.max(cl.rules_payout.amount - cl.payout.amount, 0)) });
  const reason = h("select", { name: "reason" }, Object.keys(reasons).map((code) =>
    h("option", { value: code, selected: code === "reviewer_denied" },
      term("claim_reason", code))));
  const openRecords = h("button", { type: "button", class: "open-records" },
    t("review.open_records"));
  openRecords.addEventListener("click", async () => {
    const got = await attempt(records, () => api("POST",
      `reviewer/claims/${cl.claim}/records`));
    if (got) replace(records, got.records.map(resourceCard));
  });
  return h("div", { class: "claim", dataset: { claim: cl.claim, status: cl.status } },
    h("h4", {}, t("claims.claim"), " ", h("code", {}, cl.claim.slice(0, 8)), " ",
      t("review.of_patient"), " ", didEl(cl.patient), " ", badge(cl.status),
      cl.appealed ? ` ${t("claims.appealed")}` : ""),
    h("p", {}, t("review.figures", { claimed: fmtMoney(cl.amount),
      rules: fmtMoney(cl.rules_payout), approved: fmtMoney(cl.payout),
      deadline: fmtTime(cl.deadline_ms) })),
    reasonList(cl.reasons),
    h("div", { class: "decide" },
      h("label", {}, t("review.amount", { currency: cl.amount.currency }), " ", amount), " ",
      actionButton(t("requests.approve"), "primary approve", out, () => api("POST",
        `reviewer/claims/${cl.claim}/review`,
        // the text as typed: the server's one parser takes ASCII digits only
        { decision: "approve", amount: amount.value.trim() })), " ",
      h("label", {}, t("review.deny_because"), " ", reason), " ",
      actionButton(t("requests.deny"), "danger deny", out, () => api("POST",
        `reviewer/claims/${cl.claim}/review`, { decision: "deny", reason: reason.value }))),
    openRecords, out, records);
}

async function renderReview(body) {
  const [vocab, { insurer, claims }] = await Promise.all([vocabulary(),
    api("GET", "reviewer/claims")]);
  replace(body, h("p", {}, t("review.of_insurer"), " ", partyEl(insurer)),
    claims.length ? h("div", { id: "referred" }, claims.map((cl) => reviewBlock(cl,
      vocab.reasons))) : h("p", {}, t("review.none")));
}

// -- regulator ---------------------------------------------------------------------------
async function renderByReason(body) {
  const vocab = await vocabulary();
  const out = h("div", { id: "by-reason-result" });
  const select = h("select", { id: "reason-select", name: "reason" },
    Object.entries(vocab.reasons).map(([code, sentence]) => h("option",
      { value: code, title: sentence }, `${term("claim_reason", code)} (${code})`)));
  const form = h("form", { id: "by-reason-form" }, h("label", {}, t("byreason.reason"), select),
    h("button", { type: "submit", class: "primary" }, t("byreason.submit")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const found = await attempt(out, () => api("GET",
      `auditor/claims?reason=${encodeURIComponent(select.value)}`));
    if (!found) return;
    replace(out, h("p", {}, t("byreason.found", { reason: term("claim_reason",
      found.reason.code), n: found.claims.length }), " ", h("code", {}, found.reason.code)),
    h("div", { class: "scroll" }, h("table", { id: "claims-by-reason" }, h("thead", {},
      h("tr", {}, ["claims.claim", "byreason.patient", "byreason.insurer", "claims.status",
        "claims.claimed", "claims.payout", "claims.reasons"].map((k) => h("th",
        { scope: "col" }, t(k))))),
    h("tbody", {}, found.claims.map((cl) => h("tr", { dataset: { claim: cl.claim } },
      h("td", {}, h("code", {}, cl.claim.slice(0, 8))), h("td", {}, didEl(cl.patient)),
      h("td", {}, partyEl(cl.insurer)), h("td", {}, badge(cl.status)),
      h("td", { class: "money" }, fmtMoney(cl.amount)),
      h("td", { class: "money" }, fmtMoney(cl.payout)),
      h("td", {}, cl.reasons.map((r) => r.code).join(", "))))))));
  });
  replace(body, h("p", { class: "note" }, t("byreason.note")), form, out);
}

registerSection({ id: "patient-claims", title: "nav.claims", capability: "claims", order: 45,
  render: renderClaims });
registerSection({ id: "reviewer-claims", title: "nav.review",
  capability: "claims_reviewer", order: 55, render: renderReview });
registerSection({ id: "auditor-claims", title: "nav.byreason", capability: "auditor",
  order: 75, render: renderByReason });
