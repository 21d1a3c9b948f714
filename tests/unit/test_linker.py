"""The linkage linker (tests/linkage.py) on a tiny hand-made chain: what it must join,
what it must not join through, and what it learns."""

from __future__ import annotations

from tests.linkage import Document, identifiers, link, summary, vocabulary_hits

ORG_A, ORG_B = "did:key:z6MkOrgA", "did:key:z6MkOrgB"
DOC = "did:key:z6MkDoctor"
P, Q = "did:key:z6MkPatientP", "did:key:z6MkPatientQ"
R1, R2, R3 = "1" * 32, "2" * 32, "3" * 32
CONSENT, PRODUCT = "c" * 32, "f" * 32
TYPES, CATS = {"Observation", "Condition"}, {"laboratory", "condition"}


def state(key: str, value: object, height: int = 1) -> Document:
    return Document("state", height, {"key": key, "value": value})


def msg(signer: str, body: dict[str, object], height: int = 2) -> Document:
    return Document("msg", height, {"signer": signer, "msg": body})


def chain() -> list[Document]:
    return [
        state(f"identity/kind/organization/hospital/{ORG_A}", "1"),
        state(f"identity/kind/organization/hospital/{ORG_B}", "1"),
        state(f"identity/kind/practitioner/{DOC}", "1"),
        state(f"identity/kind/patient/{P}", "1"),
        state(f"identity/kind/patient/{Q}", "1"),
        # R1 at A for P, by the doctor; R2 at B, reached only through the consent
        msg(DOC, {"type": "records/register", "record": R1, "patient": P,
                  "resource": "Condition", "category": "condition", "size": 900}),
        state(f"records/r/{R2}", {"custodian": ORG_B, "resource": "Observation",
                                  "category": "laboratory", "size": 1200}),
        msg(P, {"type": "consent/grant", "consent": CONSENT,
                "scope": {"records": [R2]}, "grantee": ORG_A}),
        # Q's record at A: shares the org, the doctor and a product id with P's
        msg(DOC, {"type": "records/register", "record": R3, "patient": Q,
                  "resource": "Observation", "category": "laboratory"}),
        msg(P, {"type": "claims/enrol", "product": PRODUCT, "insurer": ORG_B}),
        msg(Q, {"type": "claims/enrol", "product": PRODUCT, "insurer": ORG_B}),
    ]


def test_identifiers_finds_dids_ids_and_hashes_but_not_longer_hex() -> None:
    text = f"records/p/{P}/{R1} {'a' * 64} {'b' * 128} {'c' * 31}"
    assert identifiers(text) == {P, R1, "a" * 64}


def test_joins_through_references_not_through_institutions_or_shared_ids() -> None:
    found = link(chain(), [P, Q], TYPES, CATS)
    assert found[P].identifiers == {R1, R2, CONSENT}   # R2 via the consent's scope
    assert found[Q].identifiers == {R3}                # not via ORG_A, DOC or PRODUCT
    assert not found[P].merged and not found[Q].merged


def test_learns_type_category_size_and_actors_of_a_linked_record() -> None:
    facts = link(chain(), [P], TYPES, CATS)[P].facts
    assert facts[R2].resource_types == {"Observation"}
    assert facts[R2].categories == {"laboratory"}
    assert facts[R2].integers["size"] == {1200}
    assert ORG_B in facts[R2].actors
    assert facts[R1].actors == {DOC}


def test_a_document_naming_two_patients_is_reported_as_merged() -> None:
    docs = [*chain(), msg(P, {"type": "x/share", "with": Q, "record": R1})]
    found = link(docs, [P], TYPES, CATS)
    assert found[P].merged == {Q}
    assert R3 in found[P].identifiers


def test_summary_counts_what_was_linked_without_being_named() -> None:
    docs = chain()
    found = link(docs, [P], TYPES, CATS)
    kinds = {DOC: "practitioner", ORG_A: "organization", ORG_B: "organization"}
    figures = summary(found, {R1: P, R2: P, R3: Q}, {P: [R1]}, kinds)
    assert figures["linked"] == 2 and figures["linked_not_named"] == 1
    assert figures["not_named_with_type"] == 1
    assert figures["not_named_with_author"] == 0       # R2's only actor is an org
    assert figures["linked_wrong_patient"] == 0


def test_vocabulary_hits_counts_values_and_key_segments_only() -> None:
    docs = [state("records/r/x", {"resource": "Observation"}),
            state("index/laboratory/x", "1"),
            state("notes/x", "an Observation in prose")]
    assert vocabulary_hits(docs, TYPES | CATS) == 2


def test_summary_counts_every_joined_identifier_and_the_actors_seen_with_them() -> None:
    found = link(chain(), [P, Q], TYPES, CATS)
    figures = summary(found, {R1: P, R2: P, R3: Q}, {}, {})
    assert figures["linked_identifiers"] == 4            # R1, R2, CONSENT; R3
    assert figures["linked_actors"] == 4                 # P: DOC, ORG_B, ORG_A; Q: DOC


def test_summary_treats_one_persons_pseudonyms_as_one_patient() -> None:
    # P and Q are two pseudonyms of one person: the document joining them is the link
    # the person chose, not an over-join, and Q's records are the person's own.
    docs = [*chain(), msg(P, {"type": "x/link", "with": Q})]
    found = link(docs, [P], TYPES, CATS)
    assert found[P].merged == {Q}
    alone = summary(found, {R1: P, R2: P, R3: Q}, {P: [R1]}, {})
    assert alone["merged_components"] == 1 and alone["linked_wrong_patient"] == 1
    one = summary(found, {R1: P, R2: P, R3: Q}, {P: [R1]}, {},
                  person_of={P: "person", Q: "person"})
    assert one["merged_components"] == 0 and one["linked_wrong_patient"] == 0
    assert one["enrollee_records"] == 3 and one["linked"] == 3


def test_summary_counts_records_linked_at_institutions_never_named() -> None:
    found = link(chain(), [P], TYPES, CATS)
    figures = summary(found, {R1: P, R2: P, R3: Q}, {P: [R1]}, {},
                      custodian={R1: ORG_A, R2: ORG_B, R3: ORG_A})
    assert figures["linked_at_unnamed_institution"] == 1      # R2, held at ORG_B
    named_both = summary(found, {R1: P, R2: P, R3: Q}, {P: [R1, R2]}, {},
                         custodian={R1: ORG_A, R2: ORG_B, R3: ORG_A})
    assert named_both["linked_at_unnamed_institution"] == 0


def test_an_id_shared_by_two_linked_pseudonyms_is_joined_not_a_hub() -> None:
    # a claim-like document names both pseudonyms and a record: the record is the
    # person's, not an identifier shared by two strangers
    docs = [*chain(), msg(P, {"type": "x/claim", "link": Q, "record": R3})]
    found = link(docs, [P], TYPES, CATS)
    assert R3 in found[P].identifiers
    # while a product id named by two unlinked patients stays a hub
    product = "9" * 32
    docs = [*chain(), msg(P, {"type": "x/buy", "product": product}),
            msg(Q, {"type": "x/buy", "product": product})]
    found = link(docs, [P], TYPES, CATS)
    assert product not in found[P].identifiers and R3 not in found[P].identifiers


def test_summary_tells_a_true_author_from_another_practitioner() -> None:
    found = link(chain(), [P], TYPES, CATS)
    kinds = {DOC: "practitioner", ORG_A: "organization", ORG_B: "organization"}
    truth = summary(found, {R1: P, R2: P, R3: Q}, {P: [R2]}, kinds, author={R1: DOC})
    assert truth["not_named_with_author"] == 1 and truth["not_named_author_learned"] == 1
    other = summary(found, {R1: P, R2: P, R3: Q}, {P: [R2]}, kinds,
                    author={R1: "did:key:zSomeoneElse"})
    assert other["not_named_with_author"] == 1 and other["not_named_author_learned"] == 0
