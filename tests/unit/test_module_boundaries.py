"""Module boundaries (STYLE.md), checked from pytest as well as by lint-imports: every
module has the same files and a ``keys.py``; no module imports another module's keeper,
handlers or queries; and the key builders of ``keys.py`` write the bytes the chain has
always stored (consensus: the expected keys below were taken from the keepers before
the builders moved)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from phrchain.modules.audit import keys as audit_keys
from phrchain.modules.claims import keys as claims_keys
from phrchain.modules.consent import keys as consent_keys
from phrchain.modules.exchange import keys as exchange_keys
from phrchain.modules.governance import keys as governance_keys
from phrchain.modules.identity import keys as identity_keys
from phrchain.modules.records import keys as records_keys
from phrchain.modules.research import keys as research_keys
from phrchain.modules.settlement import keys as settlement_keys
from phrchain.modules.supply import keys as supply_keys
from phrchain.modules.trials import keys as trials_keys

MODULES_DIR = Path(__file__).resolve().parents[2] / "src" / "phrchain" / "modules"
MODULES = sorted(p.name for p in MODULES_DIR.iterdir() if (p / "__init__.py").is_file())
REQUIRED = ("__init__.py", "messages.py", "keeper.py", "keys.py", "handlers.py",
            "queries.py", "errors.py", "README.md")
PRIVATE = ("keeper", "handlers", "queries")


def imported_modules(source: str) -> set[str]:
    """Every dotted name an import statement of ``source`` may load: ``from a import b``
    gives ``a`` and ``a.b`` (``b`` may be a submodule)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def trespasses(owner: str | None, source: str) -> list[str]:
    """Imports of another module's keeper, handlers or queries (``owner`` None: a file
    shared by all modules, which may import no module's private parts)."""
    bad = []
    for name in sorted(imported_modules(source)):
        parts = name.split(".")
        if len(parts) >= 4 and parts[:2] == ["phrchain", "modules"] \
                and parts[2] != owner and parts[3] in PRIVATE:
            bad.append(name)
    return bad


def test_the_modules_are_the_ten_known() -> None:
    assert MODULES == ["audit", "claims", "consent", "exchange", "governance", "identity",
                       "records", "research", "settlement", "supply", "trials"]


@pytest.mark.parametrize("module", MODULES)
def test_every_module_has_the_same_files(module: str) -> None:
    missing = [f for f in REQUIRED if not (MODULES_DIR / module / f).is_file()]
    assert missing == []


def test_no_module_imports_another_modules_private_parts() -> None:
    bad = []
    for path in sorted(MODULES_DIR.rglob("*.py")):
        relative = path.relative_to(MODULES_DIR).parts
        owner = relative[0] if len(relative) > 1 else None
        bad += [f"{'/'.join(relative)}: {name}"
                for name in trespasses(owner, path.read_text(encoding="utf-8"))]
    assert bad == []


@pytest.mark.parametrize("line", [
    "from phrchain.modules.records import keeper",
    "from phrchain.modules.records import keeper as records",
    "from phrchain.modules.consent.handlers import store",
    "import phrchain.modules.identity.queries",
    "from phrchain.modules.settlement.keeper import transfer",
])
def test_the_scan_catches_a_cross_module_import(line: str) -> None:
    assert trespasses("claims", line) != []
    assert trespasses(None, line) != []


@pytest.mark.parametrize("line", [
    "from phrchain.modules.claims import keeper",
    "from phrchain.modules.records import get_record, keys",
    "from phrchain.modules.identity import parties",
    "from phrchain.modules.consent.messages import Grant",
    "from phrchain.modules.settlement.keys import bill_key",
])
def test_the_scan_allows_own_parts_and_public_faces(line: str) -> None:
    assert trespasses("claims", line) == []


def test_state_keys_are_the_bytes_the_chain_stores() -> None:
    alice, insurer = "did:phr:pat:alice", "did:phr:org:ins"
    assert identity_keys.id_key(alice) == b"identity/id/did:phr:pat:alice"
    assert consent_keys.consent_key("c-1") == b"consent/c/c-1"
    assert records_keys.record_key("r-1") == b"records/r/r-1"
    assert audit_keys.head_key(alice) == b"audit/head/did:phr:pat:alice"
    assert audit_keys.leaf_key(alice, 26) == b"audit/leaf/did:phr:pat:alice/000000000000001a"
    assert exchange_keys.request_key("q-1") == b"exchange/q/q-1"
    assert settlement_keys.balance_key("did:phr:pat:a", "UGX") == b"settlement/b/did:phr:pat:a/UGX"
    assert settlement_keys.supply_key("UGX") == b"settlement/s/UGX"
    assert settlement_keys.bill_key("b-1") == b"settlement/bill/b-1"
    assert claims_keys.product_key(insurer, "basic", 3) == b"claims/p/did:phr:org:ins/basic/3"
    assert claims_keys.current_key(insurer, "basic") == b"claims/pc/did:phr:org:ins/basic"
    assert claims_keys.enrolment_key("did:phr:pat:a", insurer, "basic", 7) \
        == b"claims/n/did:phr:pat:a/did:phr:org:ins/basic/000007"
    assert claims_keys.claim_key("cl-1") == b"claims/c/cl-1"
    assert supply_keys.params_key(3) == b"supply/p/00000003"
    assert supply_keys.unit_key("08800000000015/S1") == b"supply/u/08800000000015/S1"
    assert supply_keys.case_prefix("123") == b"supply/cu/123/"
    assert supply_keys.history_prefix("ab") == b"supply/h/ab/"
    assert supply_keys.open_alert_key("a-1") == b"supply/ao/a-1"
    t = "ab" * 16
    assert trials_keys.trial_key(t) == b"trials/t/" + t.encode()
    assert trials_keys.version_key(t, 3) == b"trials/v/" + t.encode() + b"/000003"
    assert trials_keys.participant_key(t, alice) == \
        b"trials/p/" + t.encode() + b"/did:phr:pat:alice"
    assert trials_keys.label_key(t, "death") == b"trials/l/" + t.encode() + b"/death"
    assert trials_keys.params_key(1) == b"trials/params/000001"
    assert research_keys.outcome_key(t, alice) == \
        b"research/o/" + t.encode() + b"/did:phr:pat:alice"
    assert research_keys.leaf_key(t, t) == b"research/l/" + t.encode() + b"/" + t.encode()
    assert governance_keys.proposal_key(26) == b"governance/p/000000000000001a"
    assert governance_keys.vote_key(1, alice) \
        == b"governance/v/0000000000000001/did:phr:pat:alice"
    assert governance_keys.open_key(2) == b"governance/open/0000000000000002"
    assert governance_keys.validator_key(b"\xab" * 32) == b"governance/val/" + b"ab" * 32
    assert governance_keys.param_key("vault", "max_mb") == b"governance/param/vault/max_mb"
    assert governance_keys.param_history_key("vault", "max_mb", 3) \
        == b"governance/ph/vault/max_mb/00000003"
    assert governance_keys.upgrade_key(100) == b"governance/up/0000000000000064"
    assert identity_keys.frozen_key(insurer) == b"identity/frozen/did:phr:org:ins"
