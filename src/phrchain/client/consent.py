"""The consent module from the client side (``modules/consent``): a patient grants and
revokes consents, and shares the data keys of the records a grant covers.

Sharing is key-only and batched: for the records held at each vault, the patient asks
that vault once for their own wrapped keys (``POST /v1/vault/keys/own``: no ciphertext,
so not an audited read of their own records), unwraps and re-wraps each data key for
every reader here, on the patient's machine, and posts all the wrapped keys in one
request per vault (``POST /v1/vault/keys``), which the vault checks item by item and
stores all or none. The vault never sees a data key.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from phrchain.client.records import RecordsClient
from phrchain.client.scopes import ScopeChoice, owner_records_with_descriptors
from phrchain.client.session import RecordsError, Session
from phrchain.modules.consent.messages import Grant, Grantee, Revoke, Scope
from phrchain.vault.wire import MAX_KEY_ITEMS

__all__ = ["ConsentClient"]

T = TypeVar("T")


class ConsentClient:
    def __init__(self, session: Session) -> None:
        self.session = session

    def grant(self, grantee: Mapping[str, Any], *, actions: Iterable[str],
              scope: Mapping[str, Any] | Scope, purposes: Iterable[str], start_ms: int,
              end_ms: int, share_existing: bool = True) -> str:
        """Grant a consent over ``scope``: a :class:`Scope`, or the patient's choice
        (:meth:`expand`: all, record ids, categories, resource types), which becomes
        record ids here, never categories on chain. With ``share_existing``, re-wrap the
        keys of the covered records for the grantee (the vault never sees a data key)."""
        on_chain = scope if isinstance(scope, Scope) else self.expand(scope)
        consent = secrets.token_hex(16)
        self.session.send([Grant(consent, Grantee.parse(grantee), tuple(sorted(set(actions))),
                                 on_chain, tuple(sorted(set(purposes))), start_ms,
                                 end_ms).to_msg()])
        if share_existing:
            self.share(self.grantee_dids(grantee), on_chain)
        return consent

    def expand(self, choice: Mapping[str, Any]) -> Scope:
        """The on-chain scope of the patient's choice (``client/scopes.py``): ``all``
        stays ``all``; categories and resource types become the ids of the patient's
        own records that match them now (read from their descriptors)."""
        parsed = ScopeChoice.parse(choice)
        return parsed.expand(owner_records_with_descriptors(self.session)
                             if parsed.by_kind else ())

    def revoke(self, consent: str) -> None:
        self.session.send([Revoke(consent).to_msg()])

    def grantee_dids(self, grantee: Mapping[str, Any]) -> list[str]:
        """The identities a grantee names now: a practitioner, an organization and its
        members, or the holders of a role (within one organization if it says so)."""
        s = self.session
        if grantee["kind"] == "practitioner":
            return [grantee["id"]]
        if grantee["kind"] == "organization":
            members = s.q("identity/organization", organization=grantee["id"])["members"]
            return [grantee["id"], *members]
        dids = s.q("identity/role", role=grantee["id"])["dids"]
        org = grantee.get("organization")
        return [d for d in dids if org is None or s.identity(d)["organization"] == org]

    def share(self, readers: Sequence[str], scope: Scope) -> int:
        """Wrap the key of each of the patient's records ``scope`` covers for each of
        ``readers``, at every vault in the directory holding the record; two vault
        requests per vault (per :data:`MAX_KEY_ITEMS`). Returns records times readers."""
        s = self.session
        records = RecordsClient(s).my_records(scope)
        by_custodian: dict[str, list[str]] = {}
        for d in records:
            by_custodian.setdefault(d["custodian"], []).append(d["record"])
        to_post: dict[str, list[tuple[str, str, bytes]]] = {}
        for custodian, ids in by_custodian.items():
            for part in _batches(ids, MAX_KEY_ITEMS):
                own = s.vault(custodian).own_keys(part)
                for record in part:
                    if record not in own:
                        raise RecordsError(f"vault {custodian} gave no key for {record}")
                    data_key = s.unwrap(record, own[record].hex())
                    wrapped = s.wrap_for(data_key, bytes.fromhex(record), readers)
                    for holder in s.q("records/holders", record=record)["holders"]:
                        if holder in s.directory:
                            to_post.setdefault(holder, []).extend(
                                (record, did, key) for did, key in wrapped.items())
        for holder, items in to_post.items():
            for batch in _batches(items, MAX_KEY_ITEMS):
                s.vault(holder).share_keys(batch)
        return len(records) * len(readers)


def _batches(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i:i + size] for i in range(0, len(items), size)]

