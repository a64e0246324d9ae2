"""The KMS crypto layer on its own: the master key and its file, sealed material, the ciphertext
format (authenticated, bound to its encryption context), RSA, signatures and HMAC, each checked
against the ``cryptography`` package's own verification of the standard formats."""

from __future__ import annotations

import base64
import hashlib
import hmac as std_hmac
import os
import stat

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from tsunagi.config import ConfigError
from tsunagi.services.kms import crypto
from tsunagi.services.kms.specs import SPECS

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


def symmetric() -> crypto.Material:
    return crypto.Material("SYMMETRIC_DEFAULT", crypto.new_material("SYMMETRIC_DEFAULT"))


@pytest.fixture(scope="module")
def rsa2048() -> crypto.Material:
    return crypto.Material("RSA_2048", crypto.new_material("RSA_2048"))


# == the master key ==============================================================================
def test_the_master_key_file_is_created_once_private_and_reused(tmp_path) -> None:
    path = str(tmp_path / "data" / crypto.MASTER_KEY_FILE)
    first = crypto.master_key_from_file(path)
    assert len(first) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        assert base64.b64decode(f.read().strip()) == first
    assert crypto.master_key_from_file(path) == first
    assert [p.name for p in (tmp_path / "data").iterdir()] == [crypto.MASTER_KEY_FILE]   # no temporary file left


def test_a_master_key_file_others_can_read_is_refused(tmp_path) -> None:
    path = str(tmp_path / crypto.MASTER_KEY_FILE)
    crypto.master_key_from_file(path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        crypto.master_key_from_file(path)


@pytest.mark.parametrize("content", ["not base64!", base64.b64encode(b"short").decode(), ""])
def test_a_master_key_file_without_32_bytes_is_refused(tmp_path, content: str) -> None:
    path = tmp_path / crypto.MASTER_KEY_FILE
    path.write_text(content)
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match="base64 of 32 bytes"):
        crypto.master_key_from_file(str(path))


def test_sealed_material_opens_only_under_its_master_key_key_and_version() -> None:
    master = crypto.MasterKey(os.urandom(32))
    sealed = master.seal(KEY_ID, 3, b"material")
    assert b"material" not in sealed
    assert master.unseal(KEY_ID, 3, sealed) == b"material"
    with pytest.raises(crypto.BadMaster):
        crypto.MasterKey(os.urandom(32)).unseal(KEY_ID, 3, sealed)
    with pytest.raises(crypto.BadMaster):
        master.unseal(KEY_ID, 2, sealed)                      # moved to another version
    with pytest.raises(crypto.BadMaster):
        master.unseal("6d27e1bb-99c2-4db2-bbb0-e4f5d59ba079", 3, sealed)   # moved to another key
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    with pytest.raises(crypto.BadMaster):
        master.unseal(KEY_ID, 3, bytes(flipped))


def test_each_purpose_has_its_own_derived_key() -> None:
    raw = os.urandom(32)
    a, b = crypto.MasterKey(raw), crypto.MasterKey(raw)
    assert a.check == b.check and len(a.check) == 32
    assert crypto.MasterKey(os.urandom(32)).check != a.check
    assert a.token_tag(b"x") == b.token_tag(b"x") and len(a.token_tag(b"x")) == 16
    assert a.token_valid(b"x", a.token_tag(b"x")) and not a.token_valid(b"y", a.token_tag(b"x"))
    assert a.material_id(KEY_ID, 1) != a.material_id(KEY_ID, 2)
    assert len(a.material_id(KEY_ID, 1)) == 64
    # none of them is the master key itself, nor the check value
    assert raw.hex()[:32] != a.check


# == symmetric ciphertexts =======================================================================
def test_a_symmetric_ciphertext_round_trips_and_names_its_key_and_version() -> None:
    m = symmetric()
    blob = crypto.encrypt(m, KEY_ID, 7, b"hello", {"purpose": "test"})
    parsed = crypto.parse(blob)
    assert parsed is not None
    assert (parsed.key_id, parsed.version) == (KEY_ID, 7)
    assert blob.startswith(b"TSK\x01")
    assert len(blob) == 4 + 1 + len(KEY_ID) + 4 + 12 + len(b"hello") + 16
    assert crypto.decrypt(m, parsed, {"purpose": "test"}) == b"hello"


def test_two_encryptions_of_the_same_plaintext_differ() -> None:
    m = symmetric()
    assert crypto.encrypt(m, KEY_ID, 1, b"same", None) != crypto.encrypt(m, KEY_ID, 1, b"same", None)


@pytest.mark.parametrize("given", [None, {}, {"purpose": "other"}, {"purpose": "test", "extra": "x"},
                                   {"Purpose": "test"}])
def test_the_encryption_context_must_match_exactly(given) -> None:
    m = symmetric()
    parsed = crypto.parse(crypto.encrypt(m, KEY_ID, 1, b"hello", {"purpose": "test"}))
    assert parsed is not None
    with pytest.raises(crypto.BadCiphertext):
        crypto.decrypt(m, parsed, given)


def test_context_order_does_not_matter_but_boundaries_do() -> None:
    assert crypto.context_bytes({"a": "1", "b": "2"}) == crypto.context_bytes({"b": "2", "a": "1"})
    assert crypto.context_bytes({"ab": "c"}) != crypto.context_bytes({"a": "bc"})
    assert crypto.context_bytes(None) == crypto.context_bytes({})


def test_changing_any_byte_of_a_ciphertext_fails() -> None:
    m = symmetric()
    blob = crypto.encrypt(m, KEY_ID, 1, b"hello world", {"k": "v"})
    for i in range(len(blob)):
        changed = bytearray(blob)
        changed[i] ^= 0x40
        parsed = crypto.parse(bytes(changed))
        if parsed is None:
            continue                                           # no longer looks like one of ours
        with pytest.raises(crypto.BadCiphertext):
            crypto.decrypt(m, parsed, {"k": "v"})


def test_another_keys_material_does_not_decrypt() -> None:
    parsed = crypto.parse(crypto.encrypt(symmetric(), KEY_ID, 1, b"hello", None))
    assert parsed is not None
    with pytest.raises(crypto.BadCiphertext):
        crypto.decrypt(symmetric(), parsed, None)


@pytest.mark.parametrize("blob", [b"", b"garbage", b"TSK\x02" + b"\x00" * 80, b"TSK\x01\x00" + b"\x00" * 80,
                                  b"TSK\x01\x24" + b"\xff" * 80, os.urandom(256)])
def test_what_is_not_a_tsunagi_ciphertext_does_not_parse(blob: bytes) -> None:
    assert crypto.parse(blob) is None


# == RSA encryption ==============================================================================
@pytest.mark.parametrize(("spec", "algorithm", "most"), [
    ("RSA_2048", "RSAES_OAEP_SHA_1", 214), ("RSA_2048", "RSAES_OAEP_SHA_256", 190),
    ("RSA_3072", "RSAES_OAEP_SHA_1", 342), ("RSA_3072", "RSAES_OAEP_SHA_256", 318),
    ("RSA_4096", "RSAES_OAEP_SHA_1", 470), ("RSA_4096", "RSAES_OAEP_SHA_256", 446)])
def test_rsa_plaintext_limits_are_awss(spec: str, algorithm: str, most: int) -> None:
    assert crypto.rsa_max_plaintext(spec, algorithm) == most


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
def test_rsa_oaep_round_trips_and_interoperates_with_the_public_key(rsa2048, algorithm: str) -> None:
    most = crypto.rsa_max_plaintext("RSA_2048", algorithm)
    blob = crypto.rsa_encrypt(rsa2048, algorithm, b"x" * most)
    assert len(blob) == 256
    assert crypto.rsa_decrypt(rsa2048, algorithm, blob) == b"x" * most
    # encrypted offline with the DER public key, as a client of GetPublicKey would
    public = serialization.load_der_public_key(rsa2048.public_key_der())
    h = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()
    offline = public.encrypt(b"offline", padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None))  # type: ignore[union-attr]
    assert crypto.rsa_decrypt(rsa2048, algorithm, offline) == b"offline"
    other = "RSAES_OAEP_SHA_256" if algorithm == "RSAES_OAEP_SHA_1" else "RSAES_OAEP_SHA_1"
    with pytest.raises(crypto.BadCiphertext):
        crypto.rsa_decrypt(rsa2048, other, blob)
    with pytest.raises(crypto.BadCiphertext):
        crypto.rsa_decrypt(crypto.Material("RSA_2048", crypto.new_material("RSA_2048")), algorithm, blob)


# == signatures ==================================================================================
def _hash(name: str) -> hashes.HashAlgorithm:
    return {"SHA_256": hashes.SHA256(), "SHA_384": hashes.SHA384(), "SHA_512": hashes.SHA512()}[name]


@pytest.mark.parametrize("algorithm", SPECS["RSA_2048"].signing)
def test_rsa_signatures_verify_with_the_public_key(rsa2048, algorithm: str) -> None:
    h = _hash(algorithm[-7:])
    signature = crypto.sign(rsa2048, algorithm, b"message", digest=False)
    public = serialization.load_der_public_key(rsa2048.public_key_der())
    pad = (padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size) if "PSS" in algorithm
           else padding.PKCS1v15())
    public.verify(signature, b"message", pad, h)  # type: ignore[union-attr,call-arg]
    assert crypto.verify(rsa2048, algorithm, b"message", signature, digest=False)
    assert not crypto.verify(rsa2048, algorithm, b"messagE", signature, digest=False)
    # a digest signed as such verifies as the message it is the digest of
    digest = hashlib.new(h.name, b"message").digest()
    assert crypto.verify(rsa2048, algorithm, b"message", crypto.sign(rsa2048, algorithm, digest, digest=True),
                         digest=False)


@pytest.mark.parametrize("spec", ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1"])
def test_ecdsa_signatures_are_der_and_verify_with_the_public_key(spec: str) -> None:
    m = crypto.Material(spec, crypto.new_material(spec))
    (algorithm,) = SPECS[spec].signing
    h = _hash(algorithm[-7:])
    signature = crypto.sign(m, algorithm, b"message", digest=False)
    utils.decode_dss_signature(signature)                      # DER, as AWS returns
    public = serialization.load_der_public_key(m.public_key_der())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, b"message", ec.ECDSA(h))
    assert crypto.verify(m, algorithm, b"message", signature, digest=False)
    assert not crypto.verify(m, algorithm, b"other", signature, digest=False)
    assert not crypto.verify(m, algorithm, b"message", b"\x30\x00", digest=False)   # malformed: not valid, no error
    digest = hashlib.new(h.name, b"message").digest()
    assert crypto.verify(m, algorithm, digest, signature, digest=True)


# == HMAC ========================================================================================
@pytest.mark.parametrize("spec", ["HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"])
def test_hmac_is_the_standard_hmac(spec: str) -> None:
    raw = crypto.new_material(spec)
    assert len(raw) == SPECS[spec].bits // 8
    m = crypto.Material(spec, raw)
    (algorithm,) = SPECS[spec].mac
    tag = crypto.mac(m, algorithm, b"message")
    assert tag == std_hmac.new(raw, b"message", "sha" + spec[5:]).digest()
    assert crypto.verify_mac(m, algorithm, b"message", tag)
    assert not crypto.verify_mac(m, algorithm, b"message", tag[:-1] + bytes((tag[-1] ^ 1,)))
    assert not crypto.verify_mac(m, algorithm, b"other", tag)


# == data key pairs ==============================================================================
@pytest.mark.parametrize("spec", ["RSA_2048", "ECC_NIST_P256", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"])
def test_data_key_pairs_are_pkcs8_and_spki_of_one_key(spec: str) -> None:
    private_der, public_der = crypto.new_key_pair(spec)
    private = serialization.load_der_private_key(private_der, password=None)
    assert private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo) == public_der
