"""crypt4gh interoperability with the GA4GH reference package (test extra, an oracle):
our files open with its reader for an authorised key and not for another; its files open
with ours; key files (public; c4gh-v1 private: scrypt, pbkdf2_hmac_sha256, unprotected)
read both ways; a bcrypt-protected key is refused clearly; a header re-encrypted for a
new reader works with the segments untouched, byte for byte; a file the reference
package wrote, kept as a vector (``tests/vectors/genome/c4gh_reference_file.json``),
opens without the package and each systematic mutation of it fails with its code."""

from __future__ import annotations

import base64
import io
import os
import struct
from pathlib import Path

import bcrypt
import crypt4gh.header
import crypt4gh.keys
import crypt4gh.keys.c4gh
import crypt4gh.lib
import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from phrchain.genome import c4gh_keys as kf
from phrchain.genome import crypt4gh as c4
from phrchain.genome.errors import GenomeError

DATA = os.urandom(3 * c4.SEGMENT_SIZE + 1234)  # four segments, the last short


def keypair() -> tuple[bytes, bytes]:
    secret = os.urandom(32)
    return secret, c4.public_key_of(secret)


def ours(data: bytes, *readers: bytes) -> bytes:
    out = io.BytesIO()
    c4.encrypt_stream(io.BytesIO(data), out, list(readers))
    return out.getvalue()


def theirs_decrypt(file: bytes, secret: bytes) -> bytes:
    out = io.BytesIO()
    crypt4gh.lib.decrypt([(0, secret, None)], io.BytesIO(file), out)
    return out.getvalue()


def code(exc: pytest.ExceptionInfo[GenomeError]) -> tuple[str, int]:
    return exc.value.codespace, exc.value.code


def test_our_file_opens_with_the_reference_reader_for_each_reader_only() -> None:
    (a, a_pub), (b, b_pub), (other, _) = keypair(), keypair(), keypair()
    file = ours(DATA, a_pub, b_pub)
    assert theirs_decrypt(file, a) == DATA
    assert theirs_decrypt(file, b) == DATA
    with pytest.raises(ValueError, match="No supported encryption method"):
        theirs_decrypt(file, other)


def test_the_reference_writers_file_opens_with_ours() -> None:
    (writer, writer_pub), (reader, reader_pub) = keypair(), keypair()
    out = io.BytesIO()
    crypt4gh.lib.encrypt([(0, writer, reader_pub)], io.BytesIO(DATA), out)
    plain = io.BytesIO()
    assert c4.decrypt_stream(io.BytesIO(out.getvalue()), plain, reader) == len(DATA)
    assert plain.getvalue() == DATA
    with pytest.raises(GenomeError) as refused:
        c4.decrypt_stream(io.BytesIO(out.getvalue()), io.BytesIO(), keypair()[0])
    assert code(refused) == ("c4gh", 3)
    assert writer_pub  # the writer's own key is not a reader


def test_a_header_for_a_new_reader_leaves_the_segments_untouched() -> None:
    (a, a_pub), (b, b_pub), (c, _) = keypair(), keypair(), keypair()
    file = ours(DATA, a_pub)
    header, length = c4.parse_header(file)
    segments = file[length:]
    granted = c4.reencrypt_header(header, a, [b_pub]).to_bytes()
    regranted = granted + segments
    assert regranted[len(granted):] == segments  # the same bytes, not re-encrypted
    assert theirs_decrypt(regranted, b) == DATA
    assert theirs_decrypt(regranted, a) == DATA
    revoked = c4.reencrypt_header(header, a, [b_pub], keep=False).to_bytes() + segments
    with pytest.raises(ValueError):
        theirs_decrypt(revoked, a)
    assert theirs_decrypt(revoked, b) == DATA
    with pytest.raises(GenomeError) as stranger:
        c4.reencrypt_header(header, c, [b_pub])
    assert code(stranger) == ("c4gh", 3)
    # the reference package's own re-encryption of our header: its packets open with ours
    # (it handles packets without their length prefix)
    packets = crypt4gh.header.reencrypt([p[4:] for p in header.packets], [(0, a, None)],
                                        [(0, a, b_pub)])
    theirs_header = c4.build_header([struct.pack("<I", len(p) + 4) + p for p in packets])
    plain = io.BytesIO()
    c4.decrypt_stream(io.BytesIO(theirs_header + segments), plain, b)
    assert plain.getvalue() == DATA


def test_altered_or_truncated_segments_are_refused() -> None:
    (a, a_pub) = keypair()
    file = bytearray(ours(DATA, a_pub))
    _, length = c4.parse_header(bytes(file))
    file[length + 40] ^= 1
    with pytest.raises(GenomeError) as altered:
        c4.decrypt_stream(io.BytesIO(bytes(file)), io.BytesIO(), a)
    assert code(altered) == ("c4gh", 5)
    with pytest.raises(GenomeError) as not_c4gh:
        c4.decrypt_stream(io.BytesIO(b"crypt4gx" + bytes(8)), io.BytesIO(), a)
    assert code(not_c4gh) == ("c4gh", 1)
    with pytest.raises(GenomeError) as short:
        c4.parse_header(c4.build_header([bytes(10)]))
    assert code(short) == ("c4gh", 2)


@pytest.mark.parametrize("kdf", ["scrypt", "pbkdf2_hmac_sha256", None])
def test_our_key_files_are_read_by_the_reference_package(tmp_path: Path,
                                                         kdf: str | None) -> None:
    secret, public = keypair()
    (tmp_path / "k.pub").write_text(kf.public_key_file(public))
    passphrase = None if kdf is None else b"correct horse"
    text = kf.private_key_file(secret, passphrase, kdf=kdf or "scrypt", comment=b"lab")
    (tmp_path / "k.sec").write_text(text)
    assert crypt4gh.keys.get_public_key(tmp_path / "k.pub") == public
    assert crypt4gh.keys.get_private_key(tmp_path / "k.sec",
                                         lambda: "correct horse") == secret
    assert kf.read_private_key(text, passphrase) == secret


@pytest.mark.parametrize("passphrase", [b"s3cret", b""])
def test_the_reference_packages_key_files_are_read_by_ours(tmp_path: Path,
                                                           passphrase: bytes) -> None:
    crypt4gh.keys.c4gh.generate(tmp_path / "k.sec", tmp_path / "k.pub",
                                passphrase=passphrase, comment=b"made by the package")
    sec_text = (tmp_path / "k.sec").read_text()
    secret = crypt4gh.keys.get_private_key(tmp_path / "k.sec", lambda: passphrase.decode())
    assert kf.read_private_key(sec_text, passphrase or None) == secret
    assert kf.read_public_key((tmp_path / "k.pub").read_text()) == c4.public_key_of(secret)
    if passphrase:
        with pytest.raises(GenomeError) as wrong:
            kf.read_private_key(sec_text, b"not it")
        assert code(wrong) == ("c4gh", 8)
        with pytest.raises(GenomeError) as missing:
            kf.read_private_key(sec_text, None)
        assert code(missing) == ("c4gh", 10)


def test_a_bcrypt_key_is_refused_clearly_though_the_reference_reads_it(tmp_path: Path
                                                                      ) -> None:
    """bcrypt-pbkdf would need a new runtime dependency: refused with its own code."""
    secret = os.urandom(32)
    salt, rounds, nonce = os.urandom(16), 50, os.urandom(12)
    key = bcrypt.kdf(b"pw", salt, 32, rounds)
    blob = nonce + ChaCha20Poly1305(key).encrypt(nonce, secret, None)

    def s(b: bytes) -> bytes:
        return struct.pack(">H", len(b)) + b

    body = b"c4gh-v1" + s(b"bcrypt") + s(struct.pack(">I", rounds) + salt) \
        + s(b"chacha20_poly1305") + s(blob)
    text = ("-----BEGIN CRYPT4GH PRIVATE KEY-----\n" + base64.b64encode(body).decode()
            + "\n-----END CRYPT4GH PRIVATE KEY-----\n")
    (tmp_path / "b.sec").write_text(text)
    assert crypt4gh.keys.get_private_key(tmp_path / "b.sec", lambda: "pw") == secret
    for passphrase in (b"pw", None):
        with pytest.raises(GenomeError) as refused:
            kf.read_private_key(text, passphrase)
        assert code(refused) == ("c4gh", 9) and "scrypt" in refused.value.log


def test_malformed_key_files_are_refused() -> None:
    for text in ("", "-----BEGIN CRYPT4GH PUBLIC KEY-----\n!!\n-----END CRYPT4GH PUBLIC KEY-----",
                 kf.public_key_file(bytes(32)).replace("PUBLIC", "PRIVATE")):
        with pytest.raises(GenomeError) as bad:
            kf.read_public_key(text)
        assert code(bad) == ("c4gh", 7)
    with pytest.raises(GenomeError) as truncated:
        kf.read_private_key("-----BEGIN CRYPT4GH PRIVATE KEY-----\n"
                            + base64.b64encode(b"c4gh-v1\x00\x06scr").decode()
                            + "\n-----END CRYPT4GH PRIVATE KEY-----", b"x")
    assert code(truncated) == ("c4gh", 7)


VECTOR = Path(__file__).parent.parent / "vectors" / "genome" / "c4gh_reference_file.json"


def _mutations(file: bytes) -> dict[str, tuple[bytes, int]]:
    """Systematic mutations of the reference file and the code each must give."""
    _, length = c4.parse_header(file)
    body = length + 8  # inside the first segment's ciphertext
    return {
        "flipped bit in a segment": (file[:body] + bytes([file[body] ^ 1]) + file[body + 1:], 5),
        "flipped bit in the header packet's MAC": (file[:length - 1]
                                                   + bytes([file[length - 1] ^ 1])
                                                   + file[length:], 3),
        "wrong magic": (b"crypt4gx" + file[8:], 1),
        "version 2": (file[:8] + struct.pack("<I", 2) + file[12:], 1),
        "truncated header": (file[:30], 2),
        "trailing garbage": (file + b"\x00" * 5, 5),  # it lengthens the last segment
        "last segment cut to its nonce": (file[:length + c4.CIPHER_SEGMENT_SIZE + 12], 6),
        "segments swapped": (file[:length] + file[length + c4.CIPHER_SEGMENT_SIZE:]
                             + file[length:length + c4.CIPHER_SEGMENT_SIZE], 5),
    }


def test_the_reference_vector_opens_and_its_mutations_fail() -> None:
    import json

    case = json.loads(VECTOR.read_text())
    file, secret = bytes.fromhex(case["file"]), bytes.fromhex(case["reader_secret"])
    out = io.BytesIO()
    c4.decrypt_stream(io.BytesIO(file), out, secret)
    assert out.getvalue() == bytes.fromhex(case["plaintext"])
    with pytest.raises(GenomeError) as other:
        c4.decrypt_stream(io.BytesIO(file), io.BytesIO(), bytes.fromhex(case["writer_secret"]))
    assert code(other) == ("c4gh", 3)
    for name, (mutated, expected) in _mutations(file).items():
        with pytest.raises(GenomeError) as bad:
            c4.decrypt_stream(io.BytesIO(mutated), io.BytesIO(), secret)
        assert code(bad) == ("c4gh", expected), name
