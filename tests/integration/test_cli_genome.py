"""``phrchain genome encrypt/decrypt/keygen/export`` (no node): standard crypt4gh files
and key files, checked with the crypt4gh reference package (test extra, an oracle)."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import crypt4gh.keys
import crypt4gh.keys.c4gh
import crypt4gh.lib
import pytest

from phrchain.cli.main import main
from phrchain.genome import vcf


def test_encrypt_for_reference_keys_and_decrypt_theirs(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    data = os.urandom(150_000)
    (tmp_path / "in.bin").write_bytes(data)
    crypt4gh.keys.c4gh.generate(tmp_path / "lab.sec", tmp_path / "lab.pub",
                                passphrase=b"lab pass", comment=None)
    monkeypatch.setenv("C4GH_PASSPHRASE", "mine")
    assert main(["genome", "keygen", "--sk", str(tmp_path / "me.sec"),
                 "--pk", str(tmp_path / "me.pub")]) == 0
    assert main(["genome", "encrypt", str(tmp_path / "in.bin"), str(tmp_path / "out.c4gh"),
                 "--recipient-pk", str(tmp_path / "lab.pub"), str(tmp_path / "me.pub")]) == 0
    lab = crypt4gh.keys.get_private_key(tmp_path / "lab.sec", lambda: "lab pass")
    out = io.BytesIO()
    with open(tmp_path / "out.c4gh", "rb") as f:
        crypt4gh.lib.decrypt([(0, lab, None)], f, out)
    assert out.getvalue() == data
    assert main(["genome", "decrypt", str(tmp_path / "out.c4gh"), str(tmp_path / "back"),
                 "--sk", str(tmp_path / "me.sec")]) == 0
    assert (tmp_path / "back").read_bytes() == data
    # a file the reference package wrote for our key
    mine = crypt4gh.keys.get_private_key(tmp_path / "me.sec", lambda: "mine")
    with open(tmp_path / "in.bin", "rb") as src, open(tmp_path / "t.c4gh", "wb") as dst:
        crypt4gh.lib.encrypt([(0, lab, crypt4gh.keys.get_public_key(tmp_path / "me.pub"))],
                             src, dst)
    assert mine
    assert main(["genome", "decrypt", str(tmp_path / "t.c4gh"), str(tmp_path / "t.out"),
                 "--sk", str(tmp_path / "me.sec")]) == 0
    assert (tmp_path / "t.out").read_bytes() == data
    # the wrong passphrase: a one-line error, no output file left behind
    monkeypatch.setenv("C4GH_PASSPHRASE", "wrong")
    capsys.readouterr()
    assert main(["genome", "decrypt", str(tmp_path / "out.c4gh"), str(tmp_path / "no"),
                 "--sk", str(tmp_path / "me.sec")]) == 2  # a refusal
    assert "c4gh/8 wrong_passphrase" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()
    # the lab's key cannot open a file made for someone else
    assert main(["genome", "encrypt", str(tmp_path / "in.bin"), str(tmp_path / "me.c4gh"),
                 "--recipient-pk", str(tmp_path / "me.pub")]) == 0
    with open(tmp_path / "me.c4gh", "rb") as f, pytest.raises(ValueError):
        crypt4gh.lib.decrypt([(0, lab, None)], f, io.BytesIO())


def test_export_pseudonymises(tmp_path: Path) -> None:
    sink = io.BytesIO()
    vcf.write_bgzf(vcf.synthetic(samples=2, per_chrom=5), sink)
    (tmp_path / "in.vcf.gz").write_bytes(sink.getvalue())
    (tmp_path / "study.key").write_text(os.urandom(32).hex())
    assert main(["genome", "export", str(tmp_path / "in.vcf.gz"), str(tmp_path / "out.vcf.gz"),
                 "--study", "S-1", "--key-file", str(tmp_path / "study.key")]) == 0
    text = gzip.decompress((tmp_path / "out.vcf.gz").read_bytes())
    assert b"NA12878" not in text and b"fileDate" not in text and b"/home/" not in text
    assert text.count(b"\nchr1\t") == 5
