// Claims and settlement: the patient's Claims section (balances, bills, claims; pay,
// appeal, FHIR ExplanationOfBenefit), the insurer reviewer's referred claims, and the
// regulator's claims by reason code. Amounts arrive formatted by the backend
// ({amount, currency, text}); nothing here computes with money.
import {
  api, attempt, badge, didEl, fmtTime, h, partyEl, registerSection, replace, rerender,
  resourceCard, vocabulary,
} from "./app.js";

function reasonList(reasons) {
  if (!reasons.length) return h("span", { class: "note" }, "none");
  return h("ul", { class: "reasons" }, reasons.map((r) => h("li",
    { dataset: { reason: r.code } }, h("code", {}, r.code), ` — ${r.sentence}`)));
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
    h("td", { class: "money" }, b.amount.text), h("td", {}, badge(b.status)),
    h("td", {}, b.status === "open" ? actionButton("Pay", "primary pay", out,
      () => api("POST", `patient/bills/${b.bill}/pay`)) : "", out));
}

function claimBlock(cl) {
  const out = h("div");
  const eob = h("div", { class: "eob" });
  const showEob = h("button", { type: "button", class: "eob-button" },
    "View ExplanationOfBenefit (FHIR)");
  showEob.addEventListener("click", async () => {
    const fhir = await attempt(eob, () => api("GET", `patient/claims/${cl.claim}/fhir`));
    if (fhir) {
      replace(eob, h("details", { open: true }, h("summary", {}, "ExplanationOfBenefit"),
        h("pre", {}, JSON.stringify(fhir.ExplanationOfBenefit, null, 2))));
    }
  });
  return h("div", { class: "claim", dataset: { claim: cl.claim, status: cl.status } },
    h("h4", {}, "Claim ", h("code", {}, cl.claim.slice(0, 8)), " ", badge(cl.status),
      cl.appealed ? " (appealed)" : "", " to ", partyEl(cl.insurer)),
    h("table", {}, h("tbody", {},
      h("tr", {}, h("th", {}, "Claimed"), h("td", { class: "money" }, cl.amount.text)),
      h("tr", {}, h("th", {}, "Payout"), h("td", { class: "money payout" }, cl.payout.text)),
      h("tr", {}, h("th", {}, "Payment"), h("td", {}, badge(cl.payment),
        cl.paid.amount ? ` ${cl.paid.text}` : "")),
      cl.deadline_ms ? h("tr", {}, h("th", {}, "Review deadline"),
        h("td", {}, fmtTime(cl.deadline_ms))) : "",
      h("tr", {}, h("th", {}, "Reasons"), h("td", {}, reasonList(cl.reasons))),
      h("tr", {}, h("th", {}, "Records named"), h("td", {}, h("ul", {}, cl.records.map(
        (r) => h("li", {}, h("code", {}, r)))))))),
    cl.appealable ? actionButton("Appeal", "appeal", out,
      () => api("POST", `patient/claims/${cl.claim}/appeal`)) : "",
    " ", showEob, out, eob);
}

async function renderClaims(body) {
  const { balances, bills, claims } = await api("GET", "patient/claims");
  replace(body,
    h("h3", {}, "Balances"),
    balances.length ? h("ul", { id: "balances" }, balances.map((b) => h("li",
      { dataset: { currency: b.currency } }, h("span", { class: "money" }, b.text))))
      : h("p", {}, "No money in your account."),
    h("h3", {}, "Bills"),
    bills.length ? h("table", { id: "bills" }, h("thead", {}, h("tr", {},
      ["Billed", "By", "Amount", "Status", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, bills.map(billRow))) : h("p", {}, "No bills."),
    h("h3", {}, "Claims"),
    h("p", { class: "note" }, "Each claim is decided by the product's rules on chain; the "
      + "insurer can read exactly the records a claim names, for payment only."),
    claims.length ? h("div", { id: "claims" }, claims.map(claimBlock))
      : h("p", {}, "No claims filed."));
}

// -- insurer reviewer --------------------------------------------------------------------
function reviewBlock(cl, reasons) {
  const out = h("div");
  const records = h("div", { class: "claim-records" });
  const amount = h("input", { type: "number", min: 0, step: 1, name: "amount",
    value: String(Math.max(cl.rules_payout.amount - cl.payout.amount, 0)) });
  const reason = h("select", { name: "reason" }, Object.keys(reasons).map((code) =>
    h("option", { value: code, selected: code === "reviewer_denied" }, code)));
  const openRecords = h("button", { type: "button", class: "open-records" },
    "Open the named records (HPAYMT)");
  openRecords.addEventListener("click", async () => {
    const got = await attempt(records, () => api("POST",
      `reviewer/claims/${cl.claim}/records`));
    if (got) replace(records, got.records.map(resourceCard));
  });
  return h("div", { class: "claim", dataset: { claim: cl.claim, status: cl.status } },
    h("h4", {}, "Claim ", h("code", {}, cl.claim.slice(0, 8)), " of patient ",
      didEl(cl.patient), " ", badge(cl.status), cl.appealed ? " (appealed)" : ""),
    h("p", {}, `Claimed ${cl.amount.text}; the rules give ${cl.rules_payout.text}; `
      + `approved so far ${cl.payout.text}. Decide by ${fmtTime(cl.deadline_ms)}.`),
    reasonList(cl.reasons),
    h("div", { class: "decide" },
      h("label", {}, `Approve (minor units of ${cl.amount.currency}) `, amount), " ",
      actionButton("Approve", "primary approve", out, () => api("POST",
        `reviewer/claims/${cl.claim}/review`,
        // the text as typed: the server's one parser takes ASCII digits only
        { decision: "approve", amount: amount.value.trim() })), " ",
      h("label", {}, "or deny because ", reason), " ",
      actionButton("Deny", "danger deny", out, () => api("POST",
        `reviewer/claims/${cl.claim}/review`, { decision: "deny", reason: reason.value }))),
    openRecords, out, records);
}

async function renderReview(body) {
  const [vocab, { insurer, claims }] = await Promise.all([vocabulary(),
    api("GET", "reviewer/claims")]);
  replace(body, h("p", {}, "Referred claims of ", partyEl(insurer), "."),
    claims.length ? h("div", { id: "referred" }, claims.map((cl) => reviewBlock(cl,
      vocab.reasons))) : h("p", {}, "No claim is waiting for review."));
}

// -- regulator ---------------------------------------------------------------------------
async function renderByReason(body) {
  const vocab = await vocabulary();
  const out = h("div", { id: "by-reason-result" });
  const select = h("select", { id: "reason-select", name: "reason" },
    Object.entries(vocab.reasons).map(([code, sentence]) => h("option",
      { value: code, title: sentence }, code)));
  const form = h("form", { id: "by-reason-form" }, h("label", {}, "Reason code", select),
    h("button", { type: "submit", class: "primary" }, "List claims"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const found = await attempt(out, () => api("GET",
      `auditor/claims?reason=${encodeURIComponent(select.value)}`));
    if (!found) return;
    replace(out, h("p", {}, h("code", {}, found.reason.code), ` — ${found.reason.sentence}: `
      + `${found.claims.length} claim(s)`),
    h("table", { id: "claims-by-reason" }, h("thead", {}, h("tr", {}, ["Claim", "Patient",
      "Insurer", "Status", "Claimed", "Payout", "Reasons"].map((t) => h("th", {}, t)))),
    h("tbody", {}, found.claims.map((cl) => h("tr", { dataset: { claim: cl.claim } },
      h("td", {}, h("code", {}, cl.claim.slice(0, 8))), h("td", {}, didEl(cl.patient)),
      h("td", {}, partyEl(cl.insurer)), h("td", {}, badge(cl.status)),
      h("td", { class: "money" }, cl.amount.text), h("td", { class: "money" }, cl.payout.text),
      h("td", {}, cl.reasons.map((r) => r.code).join(", ")))))));
  });
  replace(body, h("p", { class: "note" }, "Claims of every insurer that carry a reason "
    + "code (fraud signals stay listed even if a reviewer later paid the claim)."), form, out);
}

registerSection({ id: "patient-claims", title: "Claims", capability: "claims", order: 45,
  render: renderClaims });
registerSection({ id: "reviewer-claims", title: "Claims to review",
  capability: "claims_reviewer", order: 55, render: renderReview });
registerSection({ id: "auditor-claims", title: "Claims by reason", capability: "auditor",
  order: 75, render: renderByReason });
