"""A patient's access log, checked against what the caller trusts (the SDK side of
``phrchain audit``).

Trust: an *anchor* (``client/anchors.py``): the solo validator's DID, or a CometBFT
validator set. Everything the node says is checked against it:

- a *head* of the patient's log (``audit/head`` with ``prove=true``) is proven by its
  sparse-Merkle proof against the app hash the anchor vouches for at that height;
- an *entry* (``audit/entry``) is proven by its RFC 9162 inclusion proof against a head
  proven that way, and its leaf must name the patient and its index;
- ``audit verify`` also proves every head at an entry's inclusion height, and checks an
  RFC 9162 consistency proof between every two successive heads up to the latest: the log
  only ever grew, nothing was rewritten or dropped.

Entries are sealed (``vault/audit_seal.py``): who read what is readable only with a key
the entry is wrapped to (the patient's pseudonym, the custodian institution, a
regulator). Given such keys (``openers``: DID → X25519 key), each entry the reader can
open is opened and checked (its commitment, its consistency, its request and decision
height against its leaf, and that its record is one of the log's patient, as
``records/get`` says: :class:`RecordOwners`); an entry none of them opens is returned
as ``"sealed": True`` with only what the chain shows (index, height, vault, request,
commitment, readers), never guessed. Its inclusion is proven all the same. An entry
wrapped to one of the keys that does not open, or opens to something else than its
commitment, fails like a bad proof.

A failure raises :class:`~phrchain.core.errors.ProofError` naming the first failing item
(exit code 2).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phrchain.client.anchors import Anchor, SoloAnchor
from phrchain.core.errors import CryptoError, PhrError, ProofError
from phrchain.core.keys import EncryptionKey
from phrchain.vault.errors import VaultError

if TYPE_CHECKING:
    from phrchain.client.session import Session
    from phrchain.client.wallet import Wallet

__all__ = ["AuditClient", "AuditKey", "AuditReader", "Head", "RecordOwners",
           "check_consistency", "check_entry", "check_head", "open_leaf", "opening_keys"]

PUBLIC_FIELDS = ("patient", "index", "height", "vault", "request", "commitment")

PAGE = 500


@dataclass(frozen=True, slots=True)
class Head:
    """The patient's log as committed at ``height``: ``size`` leaves, RFC 9162 ``root``."""

    height: int
    size: int
    root: bytes


@contextlib.contextmanager
def item(name: str) -> Iterator[None]:
    """Name the item being checked in whatever refuses it."""
    try:
        yield
    except (ProofError, CryptoError) as exc:
        raise ProofError(f"{name}: {exc}") from None
    except (PhrError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProofError(f"{name}: malformed answer ({type(exc).__name__}: {exc})") from None


# -- pure checks (no I/O) ----------------------------------------------------------------------
def check_head(answer: dict[str, Any], anchor: Anchor, patient: str) -> Head:
    """A proved ``audit/head`` answer, checked through ``anchor``."""
    from phrchain.core import encoding, rfc9162
    from phrchain.modules.audit.keys import head_key

    raw_hex = anchor.prove_raw(answer, head_key(patient))
    height = int(answer["height"])
    if raw_hex is None:
        head = Head(height, 0, rfc9162.EMPTY_ROOT)
    else:
        stored = encoding.decode(bytes.fromhex(raw_hex))
        head = Head(height, int(stored["size"]), bytes.fromhex(stored["root"]))
        frontier = rfc9162.CompactRange.from_hashes(
            head.size, (bytes.fromhex(h) for h in stored["frontier"]))
        if frontier.root() != head.root:
            raise ProofError("the proven head's frontier does not hash to its root")
    claimed = answer.get("value") or {}
    if claimed.get("size") != head.size or claimed.get("root") != head.root.hex() \
            or claimed.get("patient") != patient:
        raise ProofError("the node's head differs from the proven one")
    return head


def check_entry(answer: dict[str, Any], head: Head, patient: str, index: int
                ) -> dict[str, Any]:
    """A ``audit/entry`` answer: leaf ``index`` of the log at ``head``; returns the leaf
    decoded from the proven bytes."""
    from phrchain.core import encoding, rfc9162

    if answer.get("height") != head.height:
        raise ProofError(f"answered at height {answer.get('height')}, asked {head.height}")
    found = answer["value"]
    if found is None:
        raise ProofError("the node says there is no such entry")
    if found["index"] != index or found["size"] != head.size \
            or found["root"] != head.root.hex():
        raise ProofError("the answer names another position or head")
    leaf = bytes.fromhex(found["leaf"])
    rfc9162.verify_inclusion(rfc9162.leaf_hash(leaf), index, head.size,
                             [bytes.fromhex(h) for h in found["inclusion"]], head.root)
    entry: dict[str, Any] = encoding.decode(leaf)
    if entry.get("patient") != patient or entry.get("index") != index:
        raise ProofError("the leaf names another patient or position")
    if found.get("entry") != entry:
        raise ProofError("the node's rendering of the entry differs from its leaf")
    return entry


Openers = Mapping[str, Sequence[EncryptionKey]]


def open_leaf(leaf: Mapping[str, Any], openers: Openers) -> dict[str, Any]:
    """A (proven) leaf as the caller may see it: opened with the keys of the first DID
    of ``openers`` (DID → its current and retired X25519 keys) it is wrapped to, its
    plaintext checked (``audit_seal.open_entry``), or marked ``"sealed": True`` with
    only its public fields when none fits. Raises :class:`ProofError` when the keys of
    a DID it is wrapped to do not open it to its commitment."""
    from phrchain.vault.audit_seal import open_entry, readers_of

    public = {k: leaf[k] for k in PUBLIC_FIELDS}
    readers = readers_of(leaf)
    for did in readers:
        if did not in openers:
            continue
        why = "no key"
        for key in openers[did]:
            try:
                opened = open_entry(leaf, did, key)
            except VaultError as exc:
                why = exc.detail
                continue
            return {**opened, **public, "sealed": False, "opened_by": did}
        raise ProofError(f"sealed entry for {did}: {why}")
    return {**public, "readers": readers, "sealed": True}


def opening_keys(wallet: Wallet) -> dict[str, tuple[EncryptionKey, ...]]:
    """The keys a wallet opens sealed audit entries with: its own (current, then retired
    ones: entries sealed before a key rotation), and each of its pseudonyms' (where the
    wallet keeps them, ``Wallet.pseudonyms``)."""
    out = {wallet.did: (wallet.encryption_key, *wallet.retired_encryption_keys)}
    known = getattr(wallet, "pseudonyms", None)
    derive = getattr(wallet, "pseudonym", None)
    if callable(known) and callable(derive):
        for did, about in known().items():
            try:
                pseudonym = derive(about["counterpart"], about["kind"],
                                   about.get("generation", 0))
            except (KeyError, TypeError, ValueError, PhrError):
                continue  # an entry the wallet cannot derive again opens nothing
            if pseudonym.did == did:
                out[did] = (pseudonym.encryption_key, *pseudonym.retired_encryption_keys)
    return out


class RecordOwners:
    """Checks that an opened entry names a record of the log's own patient: what the
    chain checked when entries were clear (v1), and cannot check sealed ones. The
    record's patient is read from ``records/get`` once per record (an erased record's
    tombstone keeps it)."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self._owners: dict[str, Any] = {}

    def check(self, entry: Mapping[str, Any]) -> None:
        if entry.get("sealed", True):
            return
        record = str(entry["record"])
        if record not in self._owners:
            found = self.node.query("records/get", {"record": record}).get("value")
            self._owners[record] = None if found is None else found.get("patient")
        if self._owners[record] != entry["patient"]:
            raise ProofError(f"the opened entry names record {record}, which is not a "
                             "record of this log's patient")


AUDIT_KEY_FORMAT = "phrchain-audit-key/v1"


@dataclass(frozen=True, slots=True)
class AuditKey:
    """An organization's X25519 keys (current first, then retired), to open the sealed
    audit entries wrapped to it, in a file of their own: what a web server or a script
    of a regulator's auditors is given instead of the organization's whole wallet
    (``phrchain audit key``). A secret: written owner-only, never sent anywhere."""

    did: str
    keys: tuple[EncryptionKey, ...]

    @classmethod
    def of_wallet(cls, wallet: Wallet) -> AuditKey:
        return cls(wallet.did, (wallet.encryption_key, *wallet.retired_encryption_keys))

    def openers(self) -> dict[str, tuple[EncryptionKey, ...]]:
        return {self.did: self.keys}

    def save(self, path: Path | str) -> None:
        import json

        from phrchain.client.wallet import write_new_private

        body = {"format": AUDIT_KEY_FORMAT, "did": self.did,
                "keys": [k.secret.hex() for k in self.keys]}
        write_new_private(Path(path), (json.dumps(body, indent=2) + "\n").encode(),
                          "audit key file")

    @classmethod
    def load(cls, path: Path | str) -> AuditKey:
        import json

        from phrchain.client.session import RecordsError
        from phrchain.core import keys

        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data["format"] != AUDIT_KEY_FORMAT:
                raise ValueError("format")
            keys.public_key_from_did(data["did"])
            found = cls(str(data["did"]), tuple(EncryptionKey(bytes.fromhex(k))
                                                for k in data["keys"]))
            if not found.keys:
                raise ValueError("no key")
        except RecursionError:
            raise RecordsError(f"{path} is not an audit key file (nested too deep)") from None
        except (OSError, ValueError, KeyError, TypeError, PhrError) as exc:
            raise RecordsError(f"{path} is not an audit key file ({exc})") from None
        return found


def check_consistency(old: Head, new: Head, proof: list[str]) -> None:
    from phrchain.core import rfc9162

    if new.height < old.height:
        raise ProofError("heads out of order")
    rfc9162.verify_consistency(old.size, new.size, [bytes.fromhex(h) for h in proof],
                               old.root, new.root)


# -- fetching ----------------------------------------------------------------------------------
@dataclass
class AuditReader:
    """Fetches a patient's log from a node and checks each piece, through ``anchor``, as
    it arrives."""

    node: Any
    patient: str
    anchor: Anchor
    min_height: int | None = None
    heads: dict[int, Head] = field(default_factory=dict)
    openers: Openers = field(default_factory=dict)
    opened: int = 0  # entries opened by the last log() or verify_all()
    owners: RecordOwners | None = None

    def head(self, height: int | None) -> Head:
        if height is not None and height in self.heads:
            return self.heads[height]
        with item("log head at " + ("the latest height" if height is None
                                    else f"height {height}")):
            answer = self.node.query("audit/head", {"patient": self.patient}, height=height,
                                     prove=True)
            at = answer["height"]
            if height is not None and at != height:
                raise ProofError(f"answered at height {at}")
            if type(at) is not int or at < 1:
                raise ProofError(f"height {at!r} cannot be proven")
            if height is None and self.min_height is not None and at < self.min_height:
                raise ProofError(f"the node answered at height {at}, older than "
                                 f"--min-height {self.min_height}")
        with item(f"log head at height {at}"):
            head = check_head(answer, self.anchor, self.patient)
        self.heads[at] = head
        return head

    def leaves(self, head: Head) -> list[str]:
        """Every leaf (hex) of the log at ``head``, which must be all of them."""
        out: list[str] = []
        start: int | None = 0
        with item(f"entry listing at height {head.height}"):
            while start is not None:
                page = self.node.query("audit/entries", {"patient": self.patient,
                                                         "start": start, "limit": PAGE},
                                       height=head.height)["value"]
                for found in page["entries"]:
                    if found["index"] != len(out):
                        raise ProofError(f"entry {len(out)} is missing from the listing")
                    out.append(found["leaf"])
                start = page["next"]
            if len(out) != head.size:
                raise ProofError(f"{len(out)} entries listed, the proven head has "
                                 f"{head.size}")
        return out

    def entry(self, index: int, head: Head, leaf: str | None = None) -> dict[str, Any]:
        with item(f"entry {index} (checked against the log head at height {head.height})"):
            answer = self.node.query("audit/entry", {"patient": self.patient,
                                                     "index": index}, height=head.height)
            if leaf is not None and (answer.get("value") or {}).get("leaf") != leaf:
                raise ProofError("its leaf differs from the one listed")
            return check_entry(answer, head, self.patient, index)

    def consistency(self, old: Head, new: Head) -> None:
        with item(f"consistency from the head at height {old.height} (size {old.size}) to "
                  f"height {new.height} (size {new.size})"):
            proof: list[str] = []
            if 0 < old.size < new.size:
                proof = self.node.query("audit/consistency", {
                    "patient": self.patient, "size1": old.size, "size2": new.size},
                    height=new.height)["value"]["proof"]
            check_consistency(old, new, proof)

    # -- whole-log operations ----------------------------------------------------------
    def open(self, index: int, leaf: Mapping[str, Any]) -> dict[str, Any]:
        """A proven leaf opened with :attr:`openers` (:func:`open_leaf`), its record
        checked to be the patient's (:class:`RecordOwners`)."""
        if self.owners is None:
            self.owners = RecordOwners(self.node)
        with item(f"entry {index}"):
            out = open_leaf(leaf, self.openers)
            self.owners.check(out)
        self.opened += not out["sealed"]
        return out

    def log(self) -> list[dict[str, Any]]:
        """Every entry, each proven included in the latest head, itself proven against
        its signed header, and opened where :attr:`openers` can (:func:`open_leaf`);
        each gets ``"verified": True`` (anything else raises)."""
        latest = self.head(None)
        self.opened = 0
        return [{**self.open(i, self.entry(i, latest, leaf)), "verified": True}
                for i, leaf in enumerate(self.leaves(latest))]

    def verify_all(self) -> tuple[Head, list[Head], set[int]]:
        """The full check of ``phrchain audit verify``: every entry against the head of
        the block that added it, every head against its signed header, and consistency
        between successive heads; and every entry :attr:`openers` can open, opened and
        checked (:attr:`opened` counts them). Returns (latest head, heads seen, inclusion
        heights)."""
        from phrchain.core import encoding

        latest = self.head(None)
        self.opened = 0
        blocks: set[int] = set()
        for index, leaf in enumerate(self.leaves(latest)):
            with item(f"entry {index}"):
                included_at = encoding.decode(bytes.fromhex(leaf))["height"]
                if type(included_at) is not int or not 1 <= included_at <= latest.height:
                    raise ProofError(f"inclusion height {included_at!r} is not a block "
                                     f"up to {latest.height}")
            blocks.add(included_at)
            self.open(index, self.entry(index, self.head(included_at), leaf))
        heads = sorted(self.heads.values(), key=lambda h: h.height)
        for old, new in itertools.pairwise(heads):
            self.consistency(old, new)
        return latest, heads, blocks


class AuditClient:
    """The audit module from the client side: a patient's verified access log."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def log(self, patient: str, anchor: Anchor | None = None,
            openers: Openers | None = None) -> list[dict[str, Any]]:
        """Every audit entry of ``patient``, each proven included in the latest log head,
        and that head proven through ``anchor`` (``client/anchors.py``: a pinned solo
        validator or a CometBFT validator set). Without one, the solo validator the node
        names is used, which only checks the node against itself. Each entry is opened
        with ``openers`` (default: the wallet's keys, :func:`opening_keys`) where it can
        be, else returned ``"sealed": True``. Raises
        :class:`~phrchain.core.errors.ProofError` on any failure."""
        node = self.session.node
        if anchor is None:
            anchor = SoloAnchor(node, str(node.status()["validator"]), node.chain_id())
        if openers is None:
            openers = opening_keys(self.session.wallet)
        return AuditReader(node, patient, anchor, openers=openers).log()
