"""What an insurer that runs a validator links to its enrollees from chain bytes (issue 14).

Patients act through per-relationship pseudonyms (the demo consortium's wallets): records
at hospital A are the patient's A-pseudonym's, at B the B-pseudonym's; enrolment and
claims are the insurer-pseudonym's, each claim linked by the A-pseudonym's signature. The
insurer knows its enrollees' insurer-pseudonyms (the DIDs that enrolled).

The setup is ``tests/linkage_scenario.py`` (its docstring says who does what): records
at two hospitals under each patient's pseudonym there, consents, a view, a push, a pull,
a break-glass, and claims to the insurer naming some hospital-A records each.

Measured: ``tests/linkage.py`` run as the insurer over every tx, event and state row
version of the node's stores, knowing its enrollees' DIDs. Figures, over all enrollees:
``enrollee_records`` (records they have), ``named`` (records they named in claims),
``linked`` (their records the linker attributes to them), ``linked_not_named`` (of those,
records they never named to the insurer), ``linked_at_unnamed_institution`` (linked
records at an institution none of whose records the enrollee named: issue 14 wants 0),
and of those not named how many show a
resource type, a category, a practitioner (author or accessor), a size, and a second
practitioner (an accessor other than the author); ``linked_at_b`` (linked records whose
custodian is hospital B); ``linked_identifiers`` (every id or hash joined to an
enrollee: records, consents, requests, bills, claims, audit request hashes, keys) and
``linked_actors`` (distinct institutions and practitioners seen with each enrollee's
identifiers, summed); ``control_linked`` of ``control_records`` (the same linker told
every pseudonym of each enrollee, i.e. one DID per person as before issue 14: all);
``records_documents_with_type_or_category`` and ``records_documents_with_practitioner``
(records-module messages, events and state rows holding a FHIR type, a category or a
practitioner DID: issue 14 wants 0); ``documents_with_type_or_category`` (chain documents holding a
FHIR resource type name or a records category as a value or key segment: issue 14 wants
0 for records); ``merged_components`` and ``linked_wrong_patient`` (the linker's own
errors: both should be 0).
Last line: ``{"bench": "linkage", …}``.

    PYTHONPATH=src python bench/linkage.py [--patients 20] [--resources 12]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.linkage_scenario import measure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=20)
    ap.add_argument("--resources", type=int, default=12)
    ap.add_argument("--named", type=int, default=2, help="records named per claim")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="4 patients, 6 resources each")
    args = ap.parse_args()
    if args.quick:
        args.patients, args.resources = 4, 6
    with tempfile.TemporaryDirectory() as tmp:
        m = measure(Path(tmp) / "home", args.patients, args.resources, args.named, args.seed)
    print(f"{m.documents} chain documents (tx messages, events, state row versions); "
          f"{m.records} records of {args.patients} patients at 2 hospitals", file=sys.stderr)
    for name, value in m.figures.items():
        print(f"  {name}: {value}", file=sys.stderr)
    print(f"  control (every pseudonym known): {m.control['linked']} of "
          f"{m.control['enrollee_records']} records linked", file=sys.stderr)
    print(json.dumps({"bench": "linkage", "patients": args.patients, "records": m.records,
                      "documents": m.documents, **m.figures,
                      "control_linked": m.control["linked"],
                      "control_records": m.control["enrollee_records"],
                      "records_documents_with_type_or_category":
                          m.record_documents_with_words,
                      "records_documents_with_practitioner":
                          m.record_documents_with_practitioner,
                      "setup_s": m.setup_s, "link_s": m.link_s}))


if __name__ == "__main__":
    main()
