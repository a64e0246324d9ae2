"""KMS cryptography on its own: the master key, sealed key material, tsunagi's ciphertext format, and
the operations of each key spec. Every primitive comes from the ``cryptography`` package (AES-GCM,
HKDF, HMAC, RSA, ECDSA); nothing here knows about requests, the store or AWS's error codes.

**The master key** (32 bytes, from ``TSUNAGI_MASTER_KEY`` or the file ``<data dir>/kms-master.key``)
never encrypts anything itself: HKDF-SHA256 derives one key per purpose from it, so the key that
seals key material is not the one that tags grant tokens. A check value (also derived) is kept in the
database, so that a server given another master key can say so.

**Key material at rest** is sealed with AES-256-GCM under the sealing key: ``nonce (12) || ciphertext
|| tag (16)``, with the key id and material version as associated data, so a sealed row cannot be
moved to another key or version.

**Ciphertext blobs** of symmetric keys (Encrypt, GenerateDataKey, ...), format version 1::

    "TSK" 0x01 | len(key id) (1) | key id (ASCII) | material version (4, big-endian) | nonce (12)
    | AES-256-GCM ciphertext | tag (16)

The whole header and the encryption context (its pairs sorted by key, each key and value as a
2-byte length and UTF-8) are the associated data: changing any byte of the blob, or decrypting with
another context, fails the tag. Ciphertexts of RSA keys are plain RSAES-OAEP output, as AWS's are,
so data encrypted offline with the public key decrypts.

Each material version encrypts with random 96-bit nonces; a rotation starts a new version.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from collections.abc import Mapping
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import constant_time, hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tsunagi.config import ConfigError
from tsunagi.services.kms.specs import SPECS, SYMMETRIC_DEFAULT, hash_of

MASTER_KEY_FILE = "kms-master.key"
MAGIC = b"TSK\x01"
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER_FIXED = len(MAGIC) + 1 + 4 + NONCE_BYTES      # without the key id
_SEAL_LABEL = b"tsunagi/kms/material/v1\x00"

_CURVES: dict[str, ec.EllipticCurve] = {
    "ECC_NIST_P256": ec.SECP256R1(), "ECC_NIST_P384": ec.SECP384R1(), "ECC_NIST_P521": ec.SECP521R1(),
    "ECC_SECG_P256K1": ec.SECP256K1(),
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA_1": hashes.SHA1, "SHA_224": hashes.SHA224, "SHA_256": hashes.SHA256, "SHA_384": hashes.SHA384,
    "SHA_512": hashes.SHA512,
}


class CryptoError(Exception):
    """Something that does not decrypt or verify."""


class BadCiphertext(CryptoError):
    """The ciphertext is not one of ours, was changed, or is decrypted with another context or key."""


class BadMaster(CryptoError):
    """Sealed key material does not open under this server's master key."""


# == the master key ==============================================================================
def master_key_from_file(path: str) -> bytes:
    """The master key kept at ``path``: created (32 random bytes, base64, mode 0600) when missing.
    ConfigError when the file is readable by others or does not hold base64 of 32 bytes."""
    if not os.path.exists(path):
        _create_key_file(path)
    mode = os.stat(path).st_mode
    if mode & 0o077:
        raise ConfigError(f"{path} (the KMS master key) can be read by other users: `chmod 600 {path}`")
    with open(path, encoding="ascii", errors="replace") as f:
        text = f.read().strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(f"{path} must hold the base64 of 32 bytes (the KMS master key); it does not")
    return raw


def _create_key_file(path: str) -> None:
    """Write a new key to a private temporary file, then link it into place: a server starting at the
    same moment either links first or reads the complete file the other one linked."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, base64.b64encode(os.urandom(32)) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    dfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"tsunagi/kms/" + purpose).derive(master)


def _hmac(key: bytes, data: bytes) -> bytes:
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


class MasterKey:
    """The keys derived from the master key, one per purpose."""

    __slots__ = ("_seal", "_token_key", "_id_key", "check")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise ValueError("the KMS master key must be 32 bytes")
        self._seal = AESGCM(_derive(raw, b"seal/v1"))
        self._token_key = _derive(raw, b"grant-token/v1")
        self._id_key = _derive(raw, b"material-id/v1")
        self.check = _derive(raw, b"check/v1")[:16].hex()    # stored in the database; reveals nothing

    @staticmethod
    def _aad(key_id: str, version: int) -> bytes:
        return _SEAL_LABEL + key_id.encode("ascii") + b"\x00" + struct.pack(">I", version)

    def seal(self, key_id: str, version: int, material: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._seal.encrypt(nonce, material, self._aad(key_id, version))

    def unseal(self, key_id: str, version: int, sealed: bytes) -> bytes:
        try:
            return self._seal.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], self._aad(key_id, version))
        except (InvalidTag, ValueError):
            raise BadMaster(f"the material of {key_id} (version {version}) does not open under this master key") \
                from None

    def token_tag(self, data: bytes) -> bytes:
        """A 16-byte tag that only this master key makes (grant tokens)."""
        return _hmac(self._token_key, data)[:16]

    def token_valid(self, data: bytes, tag: bytes) -> bool:
        return constant_time.bytes_eq(self.token_tag(data), tag)

    def material_id(self, key_id: str, version: int) -> str:
        """The public id of one version of a key's material (64 hex digits, as AWS's KeyMaterialId)."""
        return _hmac(self._id_key, key_id.encode("ascii") + struct.pack(">I", version)).hex()


# == key material ================================================================================
def new_material(key_spec: str) -> bytes:
    """Fresh key material: 32 random bytes for SYMMETRIC_DEFAULT, a random HMAC key of the spec's size,
    or an RSA / EC private key as PKCS#8 DER. RSA generation takes a while: call it off the event loop."""
    spec = SPECS[key_spec]
    if spec.family == "symmetric":
        return os.urandom(32)
    if spec.family == "hmac":
        return os.urandom(spec.bits // 8)
    if spec.family == "rsa":
        return _pkcs8(rsa.generate_private_key(public_exponent=65537, key_size=spec.bits))
    return _pkcs8(ec.generate_private_key(_CURVES[key_spec]))


def _pkcs8(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _spki(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def new_key_pair(pair_spec: str) -> tuple[bytes, bytes]:
    """A data key pair (GenerateDataKeyPair): (PKCS#8 DER private key, SubjectPublicKeyInfo DER public key)."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if pair_spec.startswith("RSA_"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=int(pair_spec[4:]))
    elif pair_spec == "ECC_NIST_EDWARDS25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = ec.generate_private_key(_CURVES[pair_spec])
    return _pkcs8(key), _spki(key.public_key())


class Material:
    """One version of a key's material, opened, with what it takes to use it made once."""

    __slots__ = ("key_spec", "raw", "_aead", "_private")

    def __init__(self, key_spec: str, raw: bytes) -> None:
        self.key_spec = key_spec
        self.raw = raw
        self._aead: AESGCM | None = None
        self._private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None

    @property
    def aead(self) -> AESGCM:
        if self._aead is None:
            self._aead = AESGCM(self.raw)
        return self._aead

    @property
    def private(self) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
        if self._private is None:
            key = serialization.load_der_private_key(self.raw, password=None)
            if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
                raise CryptoError(f"material of a {self.key_spec} key is not an RSA or EC private key")
            self._private = key
        return self._private

    def public_key_der(self) -> bytes:
        return _spki(self.private.public_key())


# == symmetric ciphertexts =======================================================================
class Blob(NamedTuple):
    """A parsed symmetric ciphertext blob."""

    key_id: str
    version: int
    header: bytes
    nonce: bytes
    body: bytes          # ciphertext || tag


def context_bytes(context: Mapping[str, str] | None) -> bytes:
    """The encryption context as associated data: count, then each pair sorted by key, length-prefixed."""
    if not context:
        return b"\x00\x00"
    parts = [struct.pack(">H", len(context))]
    for k, v in sorted((k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
                       for k, v in context.items()):
        parts.append(struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v)
    return b"".join(parts)


def encrypt(material: Material, key_id: str, version: int, plaintext: bytes,
            context: Mapping[str, str] | None) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    kid = key_id.encode("ascii")
    header = MAGIC + bytes((len(kid),)) + kid + struct.pack(">I", version) + nonce
    return header + material.aead.encrypt(nonce, plaintext, header + context_bytes(context))


def parse(blob: bytes) -> Blob | None:
    """The parts of a symmetric ciphertext blob, or None when ``blob`` is not one (an RSA ciphertext,
    something made elsewhere, garbage)."""
    if len(blob) < _HEADER_FIXED + TAG_BYTES + 1 or blob[:4] != MAGIC:
        return None
    n = blob[4]
    end = 5 + n
    if n == 0 or len(blob) < _HEADER_FIXED + n + TAG_BYTES:
        return None
    try:
        key_id = blob[5:end].decode("ascii")
    except UnicodeDecodeError:
        return None
    (version,) = struct.unpack(">I", blob[end:end + 4])
    nonce = blob[end + 4:end + 4 + NONCE_BYTES]
    header_end = end + 4 + NONCE_BYTES
    return Blob(key_id, version, blob[:header_end], nonce, blob[header_end:])


def decrypt(material: Material, blob: Blob, context: Mapping[str, str] | None) -> bytes:
    try:
        return material.aead.decrypt(blob.nonce, blob.body, blob.header + context_bytes(context))
    except InvalidTag:
        raise BadCiphertext("the ciphertext does not authenticate") from None


# == RSA encryption ==============================================================================
def _oaep(algorithm: str) -> padding.OAEP:
    h = _HASHES[hash_of(algorithm)]()
    return padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)


def rsa_max_plaintext(key_spec: str, algorithm: str) -> int:
    """The most bytes RSAES-OAEP with this hash encrypts under this modulus: k - 2 hLen - 2."""
    return SPECS[key_spec].bits // 8 - 2 * _HASHES[hash_of(algorithm)]().digest_size - 2


def rsa_encrypt(material: Material, algorithm: str, plaintext: bytes) -> bytes:
    private = material.private
    assert isinstance(private, rsa.RSAPrivateKey)
    return private.public_key().encrypt(plaintext, _oaep(algorithm))


def rsa_decrypt(material: Material, algorithm: str, ciphertext: bytes) -> bytes:
    private = material.private
    assert isinstance(private, rsa.RSAPrivateKey)
    try:
        return private.decrypt(ciphertext, _oaep(algorithm))
    except ValueError:
        raise BadCiphertext("the RSA ciphertext does not decrypt under this key") from None


# == signatures ==================================================================================
def _signature_hash(algorithm: str, digest: bool) -> tuple[hashes.HashAlgorithm, hashes.HashAlgorithm | utils.Prehashed]:
    h = _HASHES[hash_of(algorithm)]()
    return h, (utils.Prehashed(h) if digest else h)


def sign(material: Material, algorithm: str, message: bytes, digest: bool) -> bytes:
    """A signature of ``message`` (or of the digest ``message`` when ``digest``): RSASSA-PKCS1-v1_5,
    RSASSA-PSS (salt as long as the hash), or ECDSA (DER-encoded, as AWS returns)."""
    h, chosen = _signature_hash(algorithm, digest)
    private = material.private
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return private.sign(message, ec.ECDSA(chosen))
    return private.sign(message, _rsa_padding(algorithm, h), chosen)


def verify(material: Material, algorithm: str, message: bytes, signature: bytes, digest: bool) -> bool:
    h, chosen = _signature_hash(algorithm, digest)
    public = material.private.public_key()
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, message, ec.ECDSA(chosen))
        else:
            public.verify(signature, message, _rsa_padding(algorithm, h), chosen)
    except (InvalidSignature, ValueError):
        return False
    return True


def _rsa_padding(algorithm: str, h: hashes.HashAlgorithm) -> padding.AsymmetricPadding:
    if algorithm.startswith("RSASSA_PSS_"):
        return padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
    return padding.PKCS1v15()


# == HMAC ========================================================================================
def mac(material: Material, algorithm: str, message: bytes) -> bytes:
    h = hmac.HMAC(material.raw, _HASHES[hash_of(algorithm)]())
    h.update(message)
    return h.finalize()


def verify_mac(material: Material, algorithm: str, message: bytes, tag: bytes) -> bool:
    h = hmac.HMAC(material.raw, _HASHES[hash_of(algorithm)]())
    h.update(message)
    try:
        h.verify(tag)
    except InvalidSignature:
        return False
    return True


def is_symmetric(key_spec: str) -> bool:
    return key_spec == SYMMETRIC_DEFAULT
