"""What the records, consent, exchange, audit and vault commands share: their common
options, the vault directory, the signer's :class:`~phrchain.client.phr.Phr`, paged
chain lists, scope parsing and private output files.

The vault directory is a JSON file ``{organization DID: vault base URL}`` named by
``--vaults`` or the environment variable ``PHRCHAIN_VAULTS``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, Final

from phrchain.cli.common import (
    DEFAULT_NODE,
    NODE_ENV,
    CliError,
    read_json_file,
    wallet_from_args,
)
from phrchain.cli.i18n import say

VAULTS_ENV: Final = "PHRCHAIN_VAULTS"
DAY_MS: Final = 86_400_000
# A consent starts a minute before it is signed: the node decides by block time, and a
# client clock slightly ahead of the node's must not make a fresh consent "not started".
CLOCK_SKEW_MS: Final = 60_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- option groups ---------------------------------------------------------------------------
def node_options() -> argparse.ArgumentParser:
    node = argparse.ArgumentParser(add_help=False)
    node.add_argument("--node", default=os.environ.get(NODE_ENV, DEFAULT_NODE),
                      help=f"node API URL (default ${NODE_ENV} or {DEFAULT_NODE})")
    tls_client_options(node)
    return node


def tls_client_options(parser: argparse.ArgumentParser) -> None:
    """``--ca``, ``--client-cert``, ``--client-key`` for https:// nodes and vaults (the
    environment's ``PHRCHAIN_CA``/``_CLIENT_CERT``/``_CLIENT_KEY`` otherwise)."""
    parser.add_argument("--ca", help="CA file (PEM) to verify https:// nodes and vaults "
                        "(default $PHRCHAIN_CA)")
    parser.add_argument("--client-cert", help="client certificate (PEM) for vaults that "
                        "require one (default $PHRCHAIN_CLIENT_CERT)")
    parser.add_argument("--client-key", help="its key (default $PHRCHAIN_CLIENT_KEY)")


def reader_options() -> argparse.ArgumentParser:
    """Chain reads only: ``--wallet`` just names who "me" is (public part, no passphrase)."""
    reader = argparse.ArgumentParser(add_help=False, parents=[node_options()])
    reader.add_argument("--wallet", help="your wallet file (only its public DID is read)")
    return reader


def signer_options() -> argparse.ArgumentParser:
    signer = argparse.ArgumentParser(add_help=False, parents=[node_options()])
    signer.add_argument("--wallet", help="wallet file of the signer")
    signer.add_argument("--passphrase-file", help="file whose first line is the passphrase")
    signer.add_argument("--vaults", default=os.environ.get(VAULTS_ENV),
                        help=f"vault directory, JSON {{org DID: URL}} (default ${VAULTS_ENV})")
    return signer


# -- the vault directory and the records client ----------------------------------------------
def read_directory(path: str | None) -> dict[str, str]:
    if not path:
        raise CliError(say("need_vaults", env=VAULTS_ENV))
    directory = read_json_file(path, "vault directory")
    if not isinstance(directory, dict) or not all(
            isinstance(k, str) and k.startswith("did:") and isinstance(v, str)
            and v.startswith(("http://", "https://")) for k, v in directory.items()):
        raise CliError(say("bad_directory", path=path))
    return directory


@contextlib.contextmanager
def phr_client(args: argparse.Namespace, vaults: bool = True) -> Iterator[Any]:
    """The signer's :class:`~phrchain.client.phr.Phr` (its per-module clients); the SDK's
    lookup failures (an unknown DID, record or vault: ``RecordsError``) become one-line
    errors. ``vaults=False``: a chain-only action, which needs no vault directory."""
    from phrchain.client.http import ApiError, NodeClient
    from phrchain.client.phr import Phr
    from phrchain.client.session import RecordsError

    directory = read_directory(args.vaults) if vaults or args.vaults else {}
    wallet = wallet_from_args(args)
    node = NodeClient(args.node)
    client = Phr(node, wallet, directory)
    # A patient wallet's own pseudonyms: the SDK refuses to pay them (it would link them).
    client.session.own_pseudonyms = frozenset(wallet.pseudonym_map)
    try:
        yield client
    except ApiError as exc:
        erased = _erased_record(client, exc)
        if erased is None:
            raise
        raise CliError(say("record_erased", record=erased["record"],
                           height=erased.get("erased_height"), reason=erased.get("reason"))
                       ) from None
    except (KeyError, RecordsError) as exc:
        detail = str(exc.args[0]) if exc.args else "not found"
        if detail.startswith("no vault address"):
            detail += f" (add it to the vault directory {args.vaults})"
        raise CliError(detail) from None
    finally:
        client.close()
        node.close()


def _erased_record(client: Any, exc: Any) -> dict[str, Any] | None:
    """An erased record (vault/27), or one a vault never held or no longer knows
    (vault/11): ask the chain, to say when and why it was erased."""
    record = exc.message.rsplit(": ", 1)[-1].strip()
    if exc.name not in ("record_not_found", "erased") or len(record) != 32:
        return None
    try:
        descriptor = value(client.node, "records/get", record=record)
    except Exception:
        return None
    return descriptor if descriptor and descriptor.get("status") == "erased" else None


def my_did(args: argparse.Namespace) -> str | None:
    if not getattr(args, "wallet", None):
        return None
    from phrchain.client.wallet import read_public

    return read_public(args.wallet).did


def patient_of(args: argparse.Namespace) -> str:
    """``--patient``, else the wallet's own DID (read without its passphrase)."""
    patient = getattr(args, "patient", None) or my_did(args)
    if not patient:
        raise CliError(say("need_patient"))
    return str(patient)


# -- chain reads ------------------------------------------------------------------------------
def value(node: Any, path: str, **data: Any) -> Any:
    return node.query(path, {k: str(v) for k, v in data.items()})["value"]


def paged(node: Any, path: str, field: str, **data: Any) -> Iterator[str]:
    """Every id of a paged list query (``records/patient``, ``consent/patient``, …)."""
    after = None
    while True:
        page = value(node, path, **data, **({} if after is None else {"after": after}))
        yield from page[field]
        after = page["next"]
        if after is None:
            return


def found(node: Any, path: str, what: str, **data: Any) -> dict[str, Any]:
    answer = value(node, path, **data)
    if answer is None:
        raise CliError(say("no_such", what=what, id=next(iter(data.values()))))
    return dict(answer)


# -- arguments --------------------------------------------------------------------------------
def parse_list(text: str, what: str, allowed: frozenset[str] | None = None) -> list[str]:
    items = sorted({part.strip() for part in text.split(",") if part.strip()})
    if not items:
        raise CliError(say("list_empty", what=what))
    if allowed is not None and not set(items) <= allowed:
        raise CliError(say("list_unknown", what=what,
                           unknown=", ".join(sorted(set(items) - allowed)),
                           allowed=",".join(sorted(allowed))))
    return items


def parse_scope(specs: Sequence[str], by_kind: bool = True) -> dict[str, Any]:
    """``all``, or any of ``records:ID,ID``, ``resources:Type,Type``,
    ``categories:cat,cat`` (repeat ``--scope`` to combine them): the patient's choice,
    which their wallet turns into record ids (``client/scopes.py``). Without
    ``by_kind`` (a provider's pull request: it cannot read the patient's descriptors),
    ``all`` or ``records:`` only."""
    if not specs:
        raise CliError(say("scope_missing" if by_kind else "scope_missing_ids"))
    if "all" in specs:
        if len(specs) > 1:
            raise CliError(say("scope_all_alone"))
        return {"all": True}
    kinds = ("records", "resources", "categories") if by_kind else ("records",)
    scope: dict[str, list[str]] = {}
    for spec in specs:
        kind, sep, items = spec.partition(":")
        if not sep or kind not in kinds:
            raise CliError(say("scope_bad" if by_kind else "scope_bad_ids", spec=repr(spec)))
        scope[kind] = sorted(set(scope.get(kind, [])) | set(parse_list(items, spec)))
    return scope


def period_days(days: int) -> tuple[int, int]:
    if days < 1:
        raise CliError(say("days_min"))
    start = now_ms()
    return start - CLOCK_SKEW_MS, start + days * DAY_MS


# -- output -----------------------------------------------------------------------------------
def write_private(path: str, data: bytes) -> None:
    """Health data written for the user: a new file, readable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CliError(say("exists", path=path)) from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def emit_plaintext(plaintext: bytes, out: str | None) -> None:
    """A record's plaintext to ``out`` (exact bytes), else to stdout (JSON indented)."""
    if out:
        write_private(out, plaintext)
        print(say("bytes_written", n=len(plaintext), path=out), file=sys.stderr)
        return
    try:
        print(json.dumps(json.loads(plaintext), indent=2, sort_keys=True, ensure_ascii=False))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CliError(say("not_json")) from None


def describe_decision(decision: dict[str, Any]) -> str:
    consent = say("decision_consent", consent=decision["consent"]) \
        if decision.get("consent") else ""
    return say("decision", reason=decision.get("reason"), consent=consent,
               height=decision.get("height"))


class ProgressBar:
    """A plain stderr bar (no dependency): ``label [#####.....] done/total unit``."""

    WIDTH: Final = 30

    def __init__(self, total: int, label: str, unit: str) -> None:
        self.total, self.label, self.unit = max(total, 1), label, unit
        self.done = 0
        self._drawn = 0.0

    def __call__(self, step: int) -> None:
        self.done = min(self.total, self.done + step)
        now = time.monotonic()
        if self.done == self.total or now - self._drawn > 0.1:
            self._drawn = now
            filled = self.WIDTH * self.done // self.total
            print(f"\r{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                  f"{self.done}/{self.total} {self.unit}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._drawn:
            print(file=sys.stderr)
