"""The custodian's messages: a dataset manifest when its vault releases a dataset, and
the record that the dataset's pseudonymisation key was destroyed."""

from __future__ import annotations

from phrchain.core import rfc9162
from phrchain.core.module import Context
from phrchain.core.tx import Msg
from phrchain.modules.records import get_record
from phrchain.modules.research import keeper, roles
from phrchain.modules.research.errors import (
    ALREADY_EXISTS,
    BAD_LEAF,
    BELOW_THRESHOLD,
    INVALID_FIELD,
    KEY_DESTROYED,
    MATCH_PENDING,
    OVER_LIMIT,
    ROOT_MISMATCH,
    UNAUTHORIZED,
    UNKNOWN_DATASET,
    UNKNOWN_REQUEST,
)
from phrchain.modules.research.messages import (
    RESEARCH_KEY_DESTROYED,
    RESEARCH_RELEASED,
    DestroyKey,
    Leaf,
    Release,
    ReleasePart,
    leaf_bytes,
    parts_root,
)

_Donors = dict[str, tuple[keeper.Outcome | None, keeper.Donation | None]]


def _leaf_donor(ctx: Context, request: keeper.Request, leaf: Leaf,
                donors: _Donors) -> tuple[str, str]:
    """``(donor, record commitment)`` of a leaf the custodian may release: its active
    record, whose owner's donation was matched ``included`` at this version, is still
    active at that version and in period now, and covers the record. ``donors``: the
    outcome and donation of each donor already read for this manifest (a donor's
    leaves are many; neither changes while the manifest is checked)."""
    record = get_record(ctx.state, leaf.record)
    if record is None or record["status"] != "active" or record["custodian"] != ctx.signer:
        raise BAD_LEAF(f"record {leaf.record} is not an active record of this custodian")
    donor = record["patient"]
    if donor not in donors:
        donors[donor] = (keeper.get_outcome(ctx.state, request["request"], donor),
                         keeper.get_donation(ctx.state, donor))
    outcome, donation = donors[donor]
    if outcome is None or outcome["outcome"] != "included" \
            or outcome["donation"] != leaf.donation:
        raise BAD_LEAF(f"record {leaf.record}: its donor was not included at donation "
                       f"version {leaf.donation}")
    assert donation is not None
    if donation["status"] != "active" or donation["version"] != leaf.donation \
            or not donation["period"]["start_ms"] <= ctx.time_ms < donation["period"]["end_ms"]:
        raise BAD_LEAF(f"record {leaf.record}: the donation was revoked, changed or ended")
    if "all" not in donation["scope"] and leaf.record not in donation["scope"]["records"]:
        raise BAD_LEAF(f"record {leaf.record} is outside the donation's scope")
    return donor, str(record["commitment"])


def release(ctx: Context, msg: Msg) -> None:
    m = Release.parse(msg)
    p = roles.params(ctx)
    org = roles.custodian(ctx)
    request = keeper.get_request(ctx.state, m.request)
    if request is None:
        raise UNKNOWN_REQUEST(f"request {m.request}")
    if not request["done"]:
        raise MATCH_PENDING("send research/match until every donor is matched")
    if keeper.get_dataset(ctx.state, m.dataset) is not None:
        raise ALREADY_EXISTS(f"dataset {m.dataset}")
    study = keeper.get_study(ctx.state, request["study"])
    assert study is not None
    if len(m.leaves) > p["max_leaves"]:
        raise OVER_LIMIT(f"{len(m.leaves)} leaves; at most {p['max_leaves']}")
    if m.k < max(study["k"], p["min_k"]) or m.l < max(study["l"], p["min_l"]):
        raise BELOW_THRESHOLD(f"the study requires k >= {study['k']} and l >= {study['l']}")
    roles.approve(ctx, m.approver, m.approval, m.signed_bytes(study["study"]), org)
    _put_leaves(ctx, request, m.dataset, study["study"], m.leaves, m.leaves_root)
    keeper.put_dataset(ctx.state, {
        "dataset": m.dataset, "study": study["study"], "request": m.request,
        "custodian": org, "root": m.root, "resources": m.resources,
        "leaves": len(m.leaves), "leaves_root": m.leaves_root, "config": m.config,
        "k": m.k, "l": m.l, "key": m.key, "approver": m.approver,
        "approval": m.approval.hex(), "height": ctx.height, "time_ms": ctx.time_ms,
        "key_destroyed_height": None, "key_destroyed_ms": None})
    ctx.emit(RESEARCH_RELEASED, dataset=m.dataset, study=study["study"], leaves=len(m.leaves))


def _put_leaves(ctx: Context, request: keeper.Request, dataset: str, study: str,
                leaves: tuple[Leaf, ...], leaves_root: str) -> None:
    """Check every leaf and ``leaves_root``, then store the leaves and the donors' uses."""
    donors: _Donors = {}
    found = [_leaf_donor(ctx, request, leaf, donors) for leaf in leaves]
    hashes = [rfc9162.leaf_hash(leaf_bytes(c, leaf.donation))
              for (_, c), leaf in zip(found, leaves, strict=True)]
    if rfc9162.root_from_leaf_hashes(hashes).hex() != leaves_root:
        raise ROOT_MISMATCH("leaves_root is not the root of leaf_bytes(commitment, donation)")
    for (_, commitment), leaf in zip(found, leaves, strict=True):
        keeper.put_leaf(ctx.state, dataset, leaf.record,
                        {"commitment": commitment, "donation": leaf.donation})
    for donor in sorted({d for d, _ in found}):
        keeper.note_use(ctx.state, donor, dataset, study)


def release_part(ctx: Context, msg: Msg) -> None:
    """A continuation: the same custodian adds part ``n + 1`` to dataset D while its key
    lives; each part is gated and approved like a manifest; D's ``parts_root`` is the
    RFC 9162 root over every part's root (part 1: D's ``root``)."""
    m = ReleasePart.parse(msg)
    p = roles.params(ctx)
    org = roles.custodian(ctx)
    found = keeper.get_dataset(ctx.state, m.dataset)
    if found is None:
        raise UNKNOWN_DATASET(f"dataset {m.dataset}")
    if found["custodian"] != org:
        raise UNAUTHORIZED("only the custodian that released the dataset")
    if found["key_destroyed_height"] is not None:
        raise KEY_DESTROYED(f"at height {found['key_destroyed_height']}")
    roots = list(found.get("part_roots", [found["root"]]))
    if m.part != len(roots) + 1:
        raise INVALID_FIELD(f"part must be {len(roots) + 1}")
    request = keeper.get_request(ctx.state, found["request"])
    study = keeper.get_study(ctx.state, found["study"])
    assert request is not None and study is not None
    if len(m.leaves) > p["max_leaves"]:
        raise OVER_LIMIT(f"{len(m.leaves)} leaves; at most {p['max_leaves']}")
    if m.k < max(study["k"], p["min_k"]) or m.l < max(study["l"], p["min_l"]):
        raise BELOW_THRESHOLD(f"the study requires k >= {study['k']} and l >= {study['l']}")
    roles.approve(ctx, m.approver, m.approval,
                  m.signed_bytes(study["study"], found["config"], found["key"]), org)
    for leaf in m.leaves:
        if keeper.get_leaf(ctx.state, m.dataset, leaf.record) is not None:
            raise BAD_LEAF(f"record {leaf.record} is already in dataset {m.dataset}")
    _put_leaves(ctx, request, m.dataset, study["study"], m.leaves, m.leaves_root)
    roots.append(m.root)
    found.update({"part_roots": roots, "parts_root": parts_root(roots),
                  "resources": found["resources"] + m.resources,
                  "leaves": found["leaves"] + len(m.leaves),
                  "k": min(found["k"], m.k), "l": min(found["l"], m.l)})
    keeper.put_dataset(ctx.state, found)
    ctx.emit(RESEARCH_RELEASED, dataset=m.dataset, study=study["study"],
             leaves=len(m.leaves), part=m.part)


def destroy_key(ctx: Context, msg: Msg) -> None:
    m = DestroyKey.parse(msg)
    found = keeper.get_dataset(ctx.state, m.dataset)
    if found is None:
        raise UNKNOWN_DATASET(f"dataset {m.dataset}")
    if found["custodian"] != ctx.signer:
        raise UNAUTHORIZED("only the custodian that released the dataset")
    if found["key_destroyed_height"] is not None:
        raise KEY_DESTROYED(f"at height {found['key_destroyed_height']}")
    found.update({"key_destroyed_height": ctx.height, "key_destroyed_ms": ctx.time_ms})
    keeper.put_dataset(ctx.state, found)
    ctx.emit(RESEARCH_KEY_DESTROYED, dataset=m.dataset)
