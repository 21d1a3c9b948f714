"""The demo's portable-record story (M7): a patient takes everything they own to another
hospital in one encrypted file, which that hospital verifies before accepting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from phrchain.client.portable import export_portable, import_portable

if TYPE_CHECKING:
    from phrchain.demo.scenario import Scenario


def portable_record(s: Scenario) -> None:
    c, p = s.c, s.patient(4)
    path = c.home / f"{p}-portable.phr"
    s.title("Portable record: patient 4 carries their Hanbit record to Saebyeok")
    passphrase = f"{p} takes their record along"
    at_hanbit = c.as_patient(p, "hospital_a")
    report = export_portable(at_hanbit.session, path, passphrase, carry=c.wallets[p])
    counts = report.counts()
    s.say(f"exported {counts['records']} records ({counts['ciphertext_bytes']:,} bytes of "
          f"ciphertext), {counts['consents']} consent(s) and the audit head into one file "
          f"encrypted with the patient's passphrase (Argon2id), with the wallet's root and "
          f"pseudonym map")
    hospital_b = c.did("hospital_b")
    imported = import_portable(path, passphrase, at_hanbit.node,
                               validator=c.node.key.did, vault_org=hospital_b,
                               directory=c.directory)
    after = imported.counts()
    s.say(f"Saebyeok verified before accepting anything: the signed header at height "
          f"{imported.height}, {after['state_proofs']} state proofs, {after['chunks']} "
          f"chunk hashes and {after['commitments']} salted commitments, against the "
          "validator it trusts (not the file's word)")
    record = imported.uploaded[0] if imported.uploaded else report.records[0].record
    opened = at_hanbit.records.open(record, purpose="PATRQT", vault_org=hospital_b)
    s.outcome.extra["portable"] = {"file": str(path), "uploaded": len(imported.uploaded)}
    s.say(f"{len(imported.uploaded)} records are now held by Saebyeok's vault too, still "
          f"owned by the Hanbit pseudonym (only the holder changes: no new link); the "
          f"patient opened {opened.descriptor['resource']} {record[:8]}… from there")
