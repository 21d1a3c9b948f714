"""A de-identified dataset: transform every patient's resources, run the release gates,
and write FHIR bulk-data NDJSON (one file per resource type, plus a ``Provenance`` for
the dataset) and a report of what changed and the k and l reached.

The dataset's ``root`` is the RFC 9162 root over the NDJSON lines' bytes in file order
(types sorted, lines sorted by id): what a manifest on chain commits to.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phrchain.core import rfc9162
from phrchain.core.errors import CodedError
from phrchain.deid import gates
from phrchain.deid.config import Config
from phrchain.deid.errors import INVALID_INPUT, NO_PATIENT
from phrchain.deid.pseudonyms import check_key, date_offset_days, study_pseudonym
from phrchain.deid.transform import PSEUDED, Patient, compiled


@dataclass(frozen=True, slots=True)
class Group:
    """One patient's source resources, and bundle fullUrls -> ``Type/id``."""

    resources: tuple[Mapping[str, Any], ...]
    refs: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Dataset:
    lines: dict[str, list[str]]          # resource type -> NDJSON lines
    patients: list[str]                  # pseudonymous Patient ids, input order
    report: dict[str, Any]
    refusal: CodedError | None

    @property
    def root(self) -> str:
        return str(self.report["root"])

    def check(self) -> None:
        """Raise the gate's refusal, if the dataset may not be released."""
        if self.refusal is not None:
            raise self.refusal


def line(resource: Mapping[str, Any]) -> str:
    return json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _patient_id(group: Group) -> str:
    found = [r for r in group.resources if r.get("resourceType") == "Patient"]
    if len(found) != 1 or not isinstance(found[0].get("id"), str):
        raise NO_PATIENT(f"{len(found)} Patient resources (with an id) in a group")
    return str(found[0]["id"])


def deidentify(groups: Sequence[Group], config: Config, key: bytes, *, study: str,
               dataset: str, reference_year: int, recorded: str,
               agent: str = "phrchain vault") -> Dataset:
    """Transform, gate and lay out a dataset (``recorded``: the Provenance instant)."""
    check_key(key)
    transformer = compiled(config)
    changes: Counter[str] = Counter()
    by_id: dict[tuple[str, str], str] = {}
    outputs: list[list[dict[str, Any]]] = []   # (only the types the gates' paths read)
    gated = {path.split(".")[0] for path in (*config.quasi_identifiers, config.sensitive)}
    texts: list[list[str]] = []
    patients: list[str] = []
    for group in groups:
        source_id = _patient_id(group)
        # A urn:uuid reference names the resource of that id (the Synthea and bulk
        # export convention), unless the bundle's fullUrls say otherwise.
        refs = {f"urn:uuid:{r['id']}": f"{r['resourceType']}/{r['id']}"
                for r in group.resources if isinstance(r.get("id"), str)}
        p = Patient(key, study, date_offset_days(key, study, dataset, source_id),
                    reference_year, {**refs, **group.refs})
        done = [transformer.resource(r, p) for r in group.resources]
        changes.update(p.changes)
        outputs.append([r for r in done if r["resourceType"] in gated])
        texts.append([line(r) for r in done])
        patients.extend(r["id"] for r in done if r["resourceType"] == "Patient")
        for r, text in zip(done, texts[-1], strict=True):
            by_id.setdefault((r["resourceType"], str(r.get("id", ""))), text)
    table = gates.rows(outputs, config.quasi_identifiers, config.sensitive)
    k, l_reached = gates.k_and_l(table)
    findings = gates.scan(texts, [gates.source_strings(g.resources) for g in groups])
    lines: dict[str, list[str]] = {}
    for (rtype, _), text in sorted(by_id.items()):
        lines.setdefault(rtype, []).append(text)
    provenance = _provenance(config, key, study, dataset, patients, recorded, agent)
    lines["Provenance"] = [line(provenance)]
    root = rfc9162.root_from_leaf_hashes(
        [rfc9162.leaf_hash(text.encode()) for rtype in sorted(lines) for text in lines[rtype]])
    refusal: CodedError | None = None
    try:
        gates.require(k, l_reached, config.k, config.l, findings)
    except CodedError as exc:
        refusal = exc
    report = {
        "config": {"version": config.version, "sha256": config.digest}, "study": study,
        "dataset": dataset, "patients": len(patients),
        "resources": {t: len(v) for t, v in sorted(lines.items())},
        "changes": dict(sorted(changes.items())),
        "date_shift": "one offset per patient per dataset, 1 to 50 days either way",
        "quasi_identifiers": list(config.quasi_identifiers), "sensitive": config.sensitive,
        "k": {"reached": k, "required": config.k},
        "l": {"reached": l_reached, "required": config.l},
        "residual_findings": findings, "root": root.hex(),
        "refused": None if refusal is None else {
            "codespace": refusal.codespace, "code": refusal.code,
            "name": refusal.error.name, "detail": refusal.detail}}
    return Dataset(lines, patients, report, refusal)


def _provenance(config: Config, key: bytes, study: str, dataset: str,
                patients: Sequence[str], recorded: str, agent: str) -> dict[str, Any]:
    return {
        "resourceType": "Provenance",
        "id": study_pseudonym(key, study, "dataset", dataset),
        "meta": {"security": [dict(PSEUDED)]},
        "target": [{"reference": f"Patient/{p}"} for p in patients] or [
            {"display": "empty dataset"}],
        "recorded": recorded,
        "policy": [f"urn:phrchain:deid-config:{config.version}:sha256:{config.digest}"],
        "activity": {"coding": [{k: v for k, v in PSEUDED.items()}],
                     "text": "de-identification for a research dataset"},
        "agent": [{"type": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
            "code": "custodian", "display": "Custodian"}]},
            "who": {"display": agent}}],
    }


def write(dataset: Dataset, out: Path) -> list[Path]:
    """``<Type>.ndjson`` per resource type (only when no gate refused) and
    ``report.json``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if dataset.refusal is None:
        for rtype, lines in sorted(dataset.lines.items()):
            path = out / f"{rtype}.ndjson"
            path.write_text("".join(text + "\n" for text in lines), encoding="utf-8")
            written.append(path)
    report = out / "report.json"
    report.write_text(json.dumps(dataset.report, indent=1, sort_keys=True) + "\n",
                      encoding="utf-8")
    return [*written, report]


def groups_from_bundles(bundles: Sequence[Any]) -> list[Group]:
    """One group per FHIR Bundle (a Synthea-style export holds one patient)."""
    found = []
    for i, bundle in enumerate(bundles):
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" \
                or not isinstance(bundle.get("entry", []), list):
            raise INVALID_INPUT(f"input {i} is not a FHIR Bundle")
        resources, refs = [], {}
        for entry in bundle.get("entry", []):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict) or not isinstance(
                    resource.get("resourceType"), str):
                raise INVALID_INPUT(f"input {i}: an entry without a resource")
            resources.append(resource)
            if isinstance(entry.get("fullUrl"), str) and isinstance(resource.get("id"), str):
                refs[entry["fullUrl"]] = f"{resource['resourceType']}/{resource['id']}"
        found.append(Group(tuple(resources), refs))
    return found
