"""Key specs: which key usages each allows and which algorithms each key offers (AWS's "Key spec
reference"). Pure data, shared by the service and the crypto layer."""

from __future__ import annotations

from dataclasses import dataclass

ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
SIGN_VERIFY = "SIGN_VERIFY"
GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
KEY_AGREEMENT = "KEY_AGREEMENT"

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"

_RSA_SIGNING = ("RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
                "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512")
_RSA_ENCRYPTION = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    family: str                              # symmetric | rsa | ecc | hmac
    usages: tuple[str, ...]                  # the KeyUsage values a key of this spec may have
    encryption: tuple[str, ...] = ()         # EncryptionAlgorithms of an ENCRYPT_DECRYPT key
    signing: tuple[str, ...] = ()            # SigningAlgorithms of a SIGN_VERIFY key
    mac: tuple[str, ...] = ()                # MacAlgorithms
    bits: int = 0                            # RSA modulus / HMAC key size

    def encryption_algorithms(self, usage: str) -> tuple[str, ...]:
        return self.encryption if usage == ENCRYPT_DECRYPT else ()

    def signing_algorithms(self, usage: str) -> tuple[str, ...]:
        return self.signing if usage == SIGN_VERIFY else ()


SPECS: dict[str, Spec] = {s.name: s for s in (
    Spec(SYMMETRIC_DEFAULT, "symmetric", (ENCRYPT_DECRYPT,), encryption=(SYMMETRIC_DEFAULT,)),
    Spec("RSA_2048", "rsa", (ENCRYPT_DECRYPT, SIGN_VERIFY), _RSA_ENCRYPTION, _RSA_SIGNING, bits=2048),
    Spec("RSA_3072", "rsa", (ENCRYPT_DECRYPT, SIGN_VERIFY), _RSA_ENCRYPTION, _RSA_SIGNING, bits=3072),
    Spec("RSA_4096", "rsa", (ENCRYPT_DECRYPT, SIGN_VERIFY), _RSA_ENCRYPTION, _RSA_SIGNING, bits=4096),
    Spec("ECC_NIST_P256", "ecc", (SIGN_VERIFY,), signing=("ECDSA_SHA_256",)),
    Spec("ECC_NIST_P384", "ecc", (SIGN_VERIFY,), signing=("ECDSA_SHA_384",)),
    Spec("ECC_NIST_P521", "ecc", (SIGN_VERIFY,), signing=("ECDSA_SHA_512",)),
    Spec("ECC_SECG_P256K1", "ecc", (SIGN_VERIFY,), signing=("ECDSA_SHA_256",)),
    Spec("HMAC_224", "hmac", (GENERATE_VERIFY_MAC,), mac=("HMAC_SHA_224",), bits=224),
    Spec("HMAC_256", "hmac", (GENERATE_VERIFY_MAC,), mac=("HMAC_SHA_256",), bits=256),
    Spec("HMAC_384", "hmac", (GENERATE_VERIFY_MAC,), mac=("HMAC_SHA_384",), bits=384),
    Spec("HMAC_512", "hmac", (GENERATE_VERIFY_MAC,), mac=("HMAC_SHA_512",), bits=512),
)}

# Key specs AWS offers that tsunagi does not make (China-only SM2, post-quantum ML-DSA, Ed25519 KMS keys).
NOT_SERVED = ("SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ECC_NIST_EDWARDS25519")

# GenerateDataKeyPair: the key pairs tsunagi makes.
DATA_KEY_PAIR_SPECS = ("RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
                       "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519")

# GenerateDataKey's KeySpec -> bytes.
DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}

# Hash of each signing algorithm (DIGEST messages must be exactly this long).
DIGEST_BYTES = {"SHA_256": 32, "SHA_384": 48, "SHA_512": 64}


def hash_of(algorithm: str) -> str:
    """``RSASSA_PSS_SHA_384`` -> ``SHA_384``; ``RSAES_OAEP_SHA_1`` -> ``SHA_1``."""
    i = algorithm.index("SHA_")
    return algorithm[i:]
