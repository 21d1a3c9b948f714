"""Fork detection: cross-check the primary's headers with witnesses (as CometBFT's light
client does, ``light/detector.go``).

A light client that asks one node (the *primary*) can be fed a header signed by
validators that also signed another one (a double sign), or a made-up header signed by
enough of the trusted set (a lunatic attack): either verifies on its own. With
:class:`WitnessedLightClient`, every header the primary gives for a target height is
compared with what each *witness* (another node) gives for that height:

- same header hash: confirmed;
- another header: the witness's header is verified from the **same trusted state** the
  primary's was verified from (skipping verification, bisecting through the witness).
  If it verifies, two conflicting headers are both signed by the trusted validators: a
  fork. The client raises :class:`ForkDetected` (``lightclient/1 conflicting_headers``)
  with both signed headers as :class:`ForkEvidence` and stops trusting either. If it
  does not verify, the witness is faulty: it is dropped (``faulty``), as CometBFT does;
- unreachable, or lacking the height: no answer.

At least one witness must confirm, else ``lightclient/2 no_witness_confirmed``.

The evidence names the attack as CometBFT's ``LightClientAttackEvidence`` does: a
conflicting header whose validator sets, consensus, app or results hashes differ from
the primary's is **lunatic** (invented state); one that differs only elsewhere is
**equivocation** (validators signed two blocks at one height). ``double_signers`` are
the validators whose valid signatures are on both commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from phrchain.client.errors import (
    CONFLICTING_HEADERS,
    NO_WITNESS_CONFIRMED,
    LightClientError,
)
from phrchain.client.lightclient_cometbft import LightHeader, header_hash
from phrchain.client.lightclient_skipping import FollowingLightClient, Provider, TrustedState
from phrchain.core.errors import CryptoError, PhrError, ProofError

__all__ = ["ForkDetected", "ForkEvidence", "WitnessedLightClient"]

# Header fields a lunatic attacker invents (CometBFT ``ConflictingHeaderIsInvalid``).
_LUNATIC_FIELDS: Final = ("validators_hash", "next_validators_hash", "consensus_hash",
                          "app_hash", "last_results_hash")


@dataclass(frozen=True, slots=True)
class ForkEvidence:
    """Two conflicting signed headers for one height, both verified from ``common_height``."""

    height: int
    common_height: int
    primary: Mapping[str, Any]   # the primary's signed header (header + commit)
    witness: Mapping[str, Any]   # the witness's
    witness_index: int
    attack: str                  # "lunatic" or "equivocation"
    double_signers: tuple[str, ...]  # hex addresses on both commits

    def to_json(self) -> dict[str, Any]:
        return {"height": self.height, "common_height": self.common_height,
                "attack": self.attack, "witness_index": self.witness_index,
                "double_signers": list(self.double_signers),
                "primary": self.primary, "witness": self.witness}


class ForkDetected(LightClientError):
    """``lightclient/1``: the primary and a witness gave conflicting verified headers."""

    def __init__(self, evidence: ForkEvidence) -> None:
        self.evidence = evidence
        ours = header_hash(evidence.primary["header"]).hex()
        theirs = header_hash(evidence.witness["header"]).hex()
        super().__init__(CONFLICTING_HEADERS, (
            f"height {evidence.height}: primary header {ours}, witness "
            f"{evidence.witness_index} header {theirs}, both verified from height "
            f"{evidence.common_height} ({evidence.attack} attack; signed both: "
            f"{', '.join(evidence.double_signers) or 'none'})"))


class _Recording:
    """The primary, remembering each signed header it served (the evidence)."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.served: dict[int, Mapping[str, Any]] = {}

    def signed_header(self, height: int) -> Mapping[str, Any]:
        found = self.provider.signed_header(height)
        self.served[height] = found
        return found

    def validators(self, height: int) -> Sequence[Mapping[str, Any]]:
        return self.provider.validators(height)


class WitnessedLightClient(FollowingLightClient):
    """A :class:`FollowingLightClient` whose every verified target header is confirmed
    by at least one witness, and which raises :class:`ForkDetected` on a fork."""

    def __init__(self, chain_id: str, trusted: TrustedState, provider: Provider,
                 witnesses: Sequence[Provider], **options: Any) -> None:
        if not witnesses:
            raise ValueError("fork detection needs at least one witness")
        self._primary = _Recording(provider)
        super().__init__(chain_id, trusted, self._primary, **options)
        self.options = options
        self.witnesses: list[Provider | None] = list(witnesses)
        self.faulty: list[tuple[int, str]] = []  # (witness index, why it was dropped)

    def verify_to(self, height: int, now_ns: int) -> LightHeader:
        if height in self.verified:
            return self.verified[height]
        root = self.trusted
        light = super().verify_to(height, now_ns)
        try:
            self._cross_check(root, light, now_ns)
        except LightClientError:
            self.trusted = root  # trust nothing verified since the root
            self.verified = {h: v for h, v in self.verified.items() if h <= root.height}
            raise
        return light

    def _cross_check(self, root: TrustedState, light: LightHeader, now_ns: int) -> None:
        confirmed = 0
        for index, witness in enumerate(self.witnesses):
            if witness is None:
                continue
            try:
                theirs = witness.signed_header(light.height)
                their_hash = header_hash(theirs["header"])
            except ProofError as exc:
                self._drop(index, f"a malformed header: {exc}")
                continue
            except (PhrError, OSError, LookupError, TypeError):
                continue  # unreachable, or it lacks the height: no answer
            if their_hash == light.hash:
                confirmed += 1
                continue
            checker = FollowingLightClient(self.chain_id, root, witness, **self.options)
            try:
                checker.verify_to(light.height, now_ns)
            except (ProofError, CryptoError) as exc:
                self._drop(index, f"its conflicting header does not verify: {exc}")
                continue
            raise ForkDetected(self._evidence(root, light.height, theirs, index))
        if confirmed == 0:
            raise NO_WITNESS_CONFIRMED(f"height {light.height}: {len(self.faulty)} witness(es) "
                                       "dropped as faulty, the others did not answer")

    def _drop(self, index: int, why: str) -> None:
        self.witnesses[index] = None
        self.faulty.append((index, why))

    def _evidence(self, root: TrustedState, height: int, theirs: Mapping[str, Any],
                  index: int) -> ForkEvidence:
        ours = self._primary.served[height]
        lunatic = any(str(ours["header"].get(f)).upper() != str(theirs["header"].get(f)).upper()
                      for f in _LUNATIC_FIELDS)
        both = _signers(ours) & _signers(theirs)
        return ForkEvidence(height, root.height, ours, theirs, index,
                            "lunatic" if lunatic else "equivocation", tuple(sorted(both)))


def _signers(signed_header: Mapping[str, Any]) -> set[str]:
    """Addresses with a commit signature (both commits were verified, so all valid)."""
    commit = signed_header.get("commit")
    signatures = commit.get("signatures") if isinstance(commit, Mapping) else None
    return {str(s.get("validator_address")).upper() for s in signatures or ()
            if isinstance(s, Mapping) and str(s.get("block_id_flag")) == "2"}
