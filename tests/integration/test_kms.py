"""KMS end to end with boto3: a real `tsunagi serve` on SQLite and on PostgreSQL.

Round trips for every key type, encryption contexts, aliases wherever a KeyId goes, grants, rotation,
disabled and pending-deletion keys, key policies, tags, pagination, and bad input answered with AWS's
error codes and messages (never a 500)."""

from __future__ import annotations

import hashlib
import json

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

ACCOUNT = "000000000000"
REGION = "us-east-1"


def arn(key_id: str) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"


def error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, excinfo.value.response
    return err["Code"], err.get("Message", "")


@pytest.fixture
def kms(server):
    return server.client("kms")


@pytest.fixture
def raw_kms(server):
    """A client that sends what botocore would refuse to (values below a model's minimum)."""
    return server.client("kms", parameter_validation=False)


def new_key(kms, **params) -> dict:
    return kms.create_key(**params)["KeyMetadata"]


# == keys ========================================================================================
def test_create_and_describe_a_symmetric_key(kms) -> None:
    md = new_key(kms, Description="orders", Tags=[{"TagKey": "team", "TagValue": "shop"}])
    assert md["Arn"] == arn(md["KeyId"])
    assert {k: md[k] for k in ("AWSAccountId", "Description", "Enabled", "KeyUsage", "KeyState", "Origin",
                               "KeyManager", "KeySpec", "CustomerMasterKeySpec", "EncryptionAlgorithms",
                               "MultiRegion")} == {
        "AWSAccountId": ACCOUNT, "Description": "orders", "Enabled": True, "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": "Enabled", "Origin": "AWS_KMS", "KeyManager": "CUSTOMER", "KeySpec": "SYMMETRIC_DEFAULT",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": False}
    for ident in (md["KeyId"], md["Arn"]):
        assert kms.describe_key(KeyId=ident)["KeyMetadata"] == md
    assert kms.list_resource_tags(KeyId=md["KeyId"])["Tags"] == [{"TagKey": "team", "TagValue": "shop"}]


@pytest.mark.parametrize(("spec", "usage", "metadata"), [
    ("RSA_2048", "ENCRYPT_DECRYPT", {"EncryptionAlgorithms": ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]}),
    ("RSA_3072", "SIGN_VERIFY", {"SigningAlgorithms": ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
                                                       "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256",
                                                       "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"]}),
    ("ECC_NIST_P384", "SIGN_VERIFY", {"SigningAlgorithms": ["ECDSA_SHA_384"]}),
    ("ECC_SECG_P256K1", "SIGN_VERIFY", {"SigningAlgorithms": ["ECDSA_SHA_256"]}),
    ("HMAC_512", "GENERATE_VERIFY_MAC", {"MacAlgorithms": ["HMAC_SHA_512"]}),
])
def test_asymmetric_and_hmac_keys_describe_their_algorithms(kms, spec, usage, metadata) -> None:
    md = new_key(kms, KeySpec=spec, KeyUsage=usage)
    assert (md["KeySpec"], md["KeyUsage"]) == (spec, usage)
    for field, value in metadata.items():
        assert md[field] == value
    for field in {"EncryptionAlgorithms", "SigningAlgorithms", "MacAlgorithms"} - set(metadata):
        assert field not in md
    assert "CurrentKeyMaterialId" not in md


@pytest.mark.parametrize(("params", "code", "message"), [
    ({"KeySpec": "RSA_2048"}, "ValidationException",
     "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."),
    ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "ENCRYPT_DECRYPT"}, "ValidationException",
     "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec ECC_NIST_P256"),
    ({"KeyUsage": "SIGN_VERIFY"}, "ValidationException",
     "KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT"),
    ({"KeySpec": "HMAC_256", "KeyUsage": "ENCRYPT_DECRYPT"}, "ValidationException",
     "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec HMAC_256"),
    ({"KeySpec": "RSA_2048", "CustomerMasterKeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}, "ValidationException",
     "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated."),
    ({"Origin": "EXTERNAL"}, "UnsupportedOperationException", "Origin EXTERNAL is not supported"),
    ({"Origin": "AWS_CLOUDHSM"}, "UnsupportedOperationException", "Origin AWS_CLOUDHSM is not supported"),
    ({"CustomKeyStoreId": "cks-1234567890abcdef0"}, "CustomKeyStoreNotFoundException", "cks-1234567890abcdef0"),
    ({"KeySpec": "SM2", "KeyUsage": "SIGN_VERIFY"}, "UnsupportedOperationException", "KeySpec SM2 is not supported"),
    ({"KeySpec": "RSA_1024", "KeyUsage": "SIGN_VERIFY"}, "ValidationException",
     "Value 'RSA_1024' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set"),
    ({"Policy": "not json"}, "MalformedPolicyDocumentException", "Syntax errors in policy."),
    ({"Policy": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "nobody"}, "Action": "kms:*", "Resource": "*"}]})},
     "MalformedPolicyDocumentException", "Policy contains a statement with one or more invalid principals."),
    ({"Tags": [{"TagKey": "aws:x", "TagValue": "y"}]}, "TagException", "Tags beginning with aws: are reserved"),
])
def test_create_key_refuses_what_aws_refuses(kms, params, code, message) -> None:
    with pytest.raises(ClientError) as e:
        kms.create_key(**params)
    got_code, got_message = error(e)
    assert got_code == code
    assert message in got_message


def test_unknown_keys_and_aliases_get_awss_not_found(kms) -> None:
    missing = "1234abcd-12ab-34cd-56ef-1234567890ab"
    for ident, message in [
        (missing, f"Key '{arn(missing)}' does not exist"),
        (arn(missing), f"Key '{arn(missing)}' does not exist"),
        ("not-a-key-id", "Invalid keyId 'not-a-key-id'"),
        ("alias/none", f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/none is not found."),
        (f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/none", f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/none is not found."),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{missing}", "Invalid arn eu-west-1"),
    ]:
        with pytest.raises(ClientError) as e:
            kms.describe_key(KeyId=ident)
        assert error(e) == ("NotFoundException", message)
        with pytest.raises(ClientError) as e:
            kms.encrypt(KeyId=ident, Plaintext=b"x")
        assert error(e) == ("NotFoundException", message)


def test_list_keys_pages_with_limit_and_marker(kms) -> None:
    made = sorted(new_key(kms)["KeyId"] for _ in range(5))
    first = kms.list_keys(Limit=2)
    assert first["Truncated"] is True and len(first["Keys"]) == 2
    seen = [k["KeyId"] for k in first["Keys"]]
    marker = first["NextMarker"]
    while marker:
        page = kms.list_keys(Limit=2, Marker=marker)
        seen += [k["KeyId"] for k in page["Keys"]]
        marker = page.get("NextMarker")
        assert page["Truncated"] is bool(marker)
    assert seen == made
    assert all(k["KeyArn"] == arn(k["KeyId"]) for k in kms.list_keys()["Keys"])
    with pytest.raises(ClientError) as e:
        kms.list_keys(Marker="!!not-a-marker!!")
    assert error(e)[0] == "InvalidMarkerException"


def test_multi_region_keys_are_kept_but_not_replicated(kms) -> None:
    md = new_key(kms, MultiRegion=True)
    assert md["KeyId"].startswith("mrk-") and md["MultiRegion"] is True
    assert md["MultiRegionConfiguration"] == {"MultiRegionKeyType": "PRIMARY",
                                              "PrimaryKey": {"Arn": md["Arn"], "Region": REGION}, "ReplicaKeys": []}
    blob = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    with pytest.raises(ClientError) as e:
        kms.replicate_key(KeyId=md["KeyId"], ReplicaRegion="eu-west-1")
    assert error(e)[0] == "UnsupportedOperationException"
    plain = new_key(kms)
    with pytest.raises(ClientError) as e:
        kms.replicate_key(KeyId=plain["KeyId"], ReplicaRegion="eu-west-1")
    assert error(e) == ("UnsupportedOperationException", f"Unable to replicate a non-MultiRegion key {plain['KeyId']}")


def test_update_description_and_tags(kms) -> None:
    key = new_key(kms)["KeyId"]
    kms.update_key_description(KeyId=key, Description="renamed")
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "renamed"
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": f"k{i}", "TagValue": str(i)} for i in range(3)])
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "k1", "TagValue": "changed"}])
    kms.untag_resource(KeyId=key, TagKeys=["k0", "absent"])
    assert kms.list_resource_tags(KeyId=key)["Tags"] == [{"TagKey": "k1", "TagValue": "changed"},
                                                         {"TagKey": "k2", "TagValue": "2"}]
    page = kms.list_resource_tags(KeyId=key, Limit=1)
    assert page["Truncated"] and kms.list_resource_tags(KeyId=key, Marker=page["NextMarker"])["Tags"] == \
        [{"TagKey": "k2", "TagValue": "2"}]
    with pytest.raises(ClientError) as e:
        kms.tag_resource(KeyId=key, Tags=[{"TagKey": f"t{i}", "TagValue": ""} for i in range(49)])
    assert error(e)[0] == "LimitExceededException"
    with pytest.raises(ClientError) as e:
        kms.tag_resource(KeyId=key, Tags=[{"TagKey": "d", "TagValue": "1"}, {"TagKey": "d", "TagValue": "2"}])
    assert error(e) == ("TagException", "Duplicate tag keys")


# == symmetric encryption ========================================================================
def test_encrypt_and_decrypt_with_an_encryption_context(kms) -> None:
    key = new_key(kms)
    context = {"tenant": "a", "purpose": "test"}
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret data", EncryptionContext=context)
    assert (out["KeyId"], out["EncryptionAlgorithm"]) == (key["Arn"], "SYMMETRIC_DEFAULT")
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext=dict(reversed(context.items())))
    assert (back["Plaintext"], back["KeyId"], back["EncryptionAlgorithm"]) == (b"secret data", key["Arn"],
                                                                             "SYMMETRIC_DEFAULT")
    assert back["KeyMaterialId"] == key["CurrentKeyMaterialId"]
    for wrong in ({}, {"tenant": "a"}, {"tenant": "b", "purpose": "test"}, {**context, "more": "x"}):
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext=wrong)
        assert error(e) == ("InvalidCiphertextException", "")


def test_plaintext_limit_and_bad_ciphertexts(kms) -> None:
    key = new_key(kms)["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key, Plaintext=b"x" * 4097)
    assert error(e) == ("ValidationException", "1 validation error detected: Value at 'plaintext' failed to satisfy "
                        "constraint: Member must have length less than or equal to 4096")
    blob = kms.encrypt(KeyId=key, Plaintext=b"x" * 4096)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x" * 4096
    for bad in (blob[:-1] + bytes((blob[-1] ^ 1,)), blob[:60] + bytes((blob[60] ^ 1,)) + blob[61:], b"garbage" * 10,
                blob[:-20]):
        with pytest.raises(ClientError) as e:
            kms.decrypt(CiphertextBlob=bad)
        assert error(e) == ("InvalidCiphertextException", "")


def test_decrypt_with_a_key_id_must_name_the_ciphertexts_key(kms) -> None:
    a, b = new_key(kms), new_key(kms)
    kms.create_alias(AliasName="alias/a", TargetKeyId=a["KeyId"])
    blob = kms.encrypt(KeyId=a["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    for ident in (a["KeyId"], a["Arn"], "alias/a", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/a"):
        assert kms.decrypt(CiphertextBlob=blob, KeyId=ident)["Plaintext"] == b"x"
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob, KeyId=b["KeyId"])
    assert error(e) == ("IncorrectKeyException",
                        "The key ID in the request does not identify a CMK that can perform this operation.")


def test_re_encrypt_moves_a_ciphertext_to_another_key_and_context(kms) -> None:
    a, b = new_key(kms), new_key(kms)
    blob = kms.encrypt(KeyId=a["KeyId"], Plaintext=b"moving", EncryptionContext={"at": "a"})["CiphertextBlob"]
    out = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"at": "a"}, DestinationKeyId=b["Arn"],
                         DestinationEncryptionContext={"at": "b"})
    assert (out["SourceKeyId"], out["KeyId"]) == (a["Arn"], b["Arn"])
    assert (out["SourceEncryptionAlgorithm"], out["DestinationEncryptionAlgorithm"]) == ("SYMMETRIC_DEFAULT",) * 2
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"at": "b"})["Plaintext"] == b"moving"
    with pytest.raises(ClientError) as e:
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=b["KeyId"])
    assert error(e)[0] == "InvalidCiphertextException"


def test_data_keys(kms) -> None:
    key = new_key(kms)
    for params, size in (({"KeySpec": "AES_256"}, 32), ({"KeySpec": "AES_128"}, 16), ({"NumberOfBytes": 64}, 64)):
        out = kms.generate_data_key(KeyId=key["KeyId"], EncryptionContext={"f": "1"}, **params)
        assert len(out["Plaintext"]) == size and out["KeyId"] == key["Arn"]
        assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"f": "1"})["Plaintext"] == \
            out["Plaintext"]
    quiet = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")
    assert "Plaintext" not in quiet and len(kms.decrypt(CiphertextBlob=quiet["CiphertextBlob"])["Plaintext"]) == 32
    for params in ({}, {"KeySpec": "AES_256", "NumberOfBytes": 32}):
        with pytest.raises(ClientError) as e:
            kms.generate_data_key(KeyId=key["KeyId"], **params)
        assert error(e) == ("ValidationException", "Please specify either number of bytes or key spec.")
    with pytest.raises(ClientError) as e:
        kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=1025)
    assert error(e) == ("ValidationException", "1 validation error detected: Value '1025' at 'numberOfBytes' failed "
                        "to satisfy constraint: Member must have value less than or equal to 1024")


@pytest.mark.parametrize("pair_spec", ["RSA_2048", "ECC_NIST_P256", "ECC_SECG_P256K1"])
def test_data_key_pairs(kms, pair_spec) -> None:
    key = new_key(kms)["KeyId"]
    out = kms.generate_data_key_pair(KeyId=key, KeyPairSpec=pair_spec, EncryptionContext={"p": "1"})
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], password=None)
    assert private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo) == out["PublicKey"]
    assert kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext={"p": "1"})["Plaintext"] \
        == out["PrivateKeyPlaintext"]
    quiet = kms.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec=pair_spec)
    assert "PrivateKeyPlaintext" not in quiet and quiet["KeyPairSpec"] == pair_spec


def test_generate_random(kms, raw_kms) -> None:
    assert len(kms.generate_random(NumberOfBytes=1024)["Plaintext"]) == 1024
    assert kms.generate_random(NumberOfBytes=32)["Plaintext"] != kms.generate_random(NumberOfBytes=32)["Plaintext"]
    with pytest.raises(ClientError) as e:
        kms.generate_random()
    assert error(e) == ("ValidationException", "NumberOfBytes is required.")
    with pytest.raises(ClientError) as e:
        raw_kms.generate_random(NumberOfBytes=0)
    assert error(e) == ("ValidationException", "1 validation error detected: Value '0' at 'numberOfBytes' failed to "
                        "satisfy constraint: Member must have value greater than or equal to 1")


def test_dry_run_checks_everything_and_does_nothing(kms) -> None:
    key = new_key(kms)["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key, Plaintext=b"x", DryRun=True)
    assert error(e) == ("DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
    kms.disable_key(KeyId=key)
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key, Plaintext=b"x", DryRun=True)
    assert error(e)[0] == "DisabledException"


# == asymmetric keys and HMAC ====================================================================
@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_3072", "RSA_4096"])
def test_rsa_encryption_round_trips_with_both_algorithms(kms, spec) -> None:
    key = new_key(kms, KeySpec=spec, KeyUsage="ENCRYPT_DECRYPT")
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    for algorithm, h in (("RSAES_OAEP_SHA_1", hashes.SHA1()), ("RSAES_OAEP_SHA_256", hashes.SHA256())):
        most = int(spec[4:]) // 8 - 2 * h.digest_size - 2
        out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"r" * most, EncryptionAlgorithm=algorithm)
        assert out["EncryptionAlgorithm"] == algorithm and len(out["CiphertextBlob"]) == int(spec[4:]) // 8
        back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], KeyId=key["KeyId"], EncryptionAlgorithm=algorithm)
        assert back["Plaintext"] == b"r" * most and back["EncryptionAlgorithm"] == algorithm
        offline = public.encrypt(b"offline", padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None))
        assert kms.decrypt(CiphertextBlob=offline, KeyId=key["Arn"], EncryptionAlgorithm=algorithm)["Plaintext"] \
            == b"offline"
        with pytest.raises(ClientError) as e:
            kms.encrypt(KeyId=key["KeyId"], Plaintext=b"r" * (most + 1), EncryptionAlgorithm=algorithm)
        assert error(e) == ("ValidationException", f"Algorithm {algorithm} and key spec {spec} cannot encrypt data "
                            f"larger than {most} bytes.")
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert error(e) == ("InvalidKeyUsageException", f"Algorithm SYMMETRIC_DEFAULT is incompatible with key spec {spec}.")
    other = new_key(kms, KeySpec=spec, KeyUsage="ENCRYPT_DECRYPT")
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:                        # another key's RSA ciphertext: does not decrypt
        kms.decrypt(CiphertextBlob=blob, KeyId=other["KeyId"], EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert error(e) == ("InvalidCiphertextException", "")
    with pytest.raises(ClientError) as e:                        # no KeyId: not a ciphertext that names its key
        kms.decrypt(CiphertextBlob=blob)
    assert error(e) == ("InvalidCiphertextException", "")


SIGNING = [("RSA_2048", a) for a in ("RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
                                     "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384",
                                     "RSASSA_PSS_SHA_512")] + [
    ("ECC_NIST_P256", "ECDSA_SHA_256"), ("ECC_NIST_P384", "ECDSA_SHA_384"), ("ECC_NIST_P521", "ECDSA_SHA_512"),
    ("ECC_SECG_P256K1", "ECDSA_SHA_256")]


@pytest.mark.parametrize(("spec", "algorithm"), SIGNING)
def test_sign_and_verify_raw_and_digest(kms, spec, algorithm) -> None:
    key = new_key(kms, KeySpec=spec, KeyUsage="SIGN_VERIFY")
    h = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[algorithm[-3:]]
    raw = kms.sign(KeyId=key["KeyId"], Message=b"the message", SigningAlgorithm=algorithm)
    assert (raw["KeyId"], raw["SigningAlgorithm"]) == (key["Arn"], algorithm)
    digest = hashlib.new(h.name, b"the message").digest()
    for message, message_type in ((b"the message", "RAW"), (digest, "DIGEST")):
        ok = kms.verify(KeyId=key["KeyId"], Message=message, MessageType=message_type, Signature=raw["Signature"],
                        SigningAlgorithm=algorithm)
        assert ok["SignatureValid"] is True
    signed_digest = kms.sign(KeyId=key["KeyId"], Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm)
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key["KeyId"])["PublicKey"])
    for signature in (raw["Signature"], signed_digest["Signature"]):
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, b"the message", ec.ECDSA(h))
        else:
            pad = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size) if "PSS" in algorithm \
                else padding.PKCS1v15()
            public.verify(signature, b"the message", pad, h)
    with pytest.raises(ClientError) as e:
        kms.verify(KeyId=key["KeyId"], Message=b"another message", Signature=raw["Signature"],
                   SigningAlgorithm=algorithm)
    assert error(e) == ("KMSInvalidSignatureException", "")
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=key["KeyId"], Message=b"short", MessageType="DIGEST", SigningAlgorithm=algorithm)
    assert error(e) == ("ValidationException", f"Digest is invalid length for algorithm {algorithm}.")


def test_signing_refuses_algorithms_and_keys_that_do_not_fit(kms) -> None:
    ecc = new_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=ecc["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_384")
    assert error(e) == ("InvalidKeyUsageException", "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256.")
    symmetric = new_key(kms)
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=symmetric["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert error(e) == ("InvalidKeyUsageException",
                        f"{symmetric['Arn']} key usage is ENCRYPT_DECRYPT which is not valid for Sign.")
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=ecc["KeyId"], Plaintext=b"m")
    assert error(e) == ("InvalidKeyUsageException", f"{ecc['Arn']} key usage is SIGN_VERIFY which is not valid for Encrypt.")
    with pytest.raises(ClientError) as e:
        kms.get_public_key(KeyId=symmetric["KeyId"])
    assert error(e)[0] == "UnsupportedOperationException"


@pytest.mark.parametrize("bits", ["224", "256", "384", "512"])
def test_generate_and_verify_mac(kms, bits) -> None:
    key = new_key(kms, KeySpec=f"HMAC_{bits}", KeyUsage="GENERATE_VERIFY_MAC")
    algorithm = f"HMAC_SHA_{bits}"
    out = kms.generate_mac(KeyId=key["KeyId"], Message=b"hello", MacAlgorithm=algorithm)
    assert (out["KeyId"], out["MacAlgorithm"], len(out["Mac"])) == (key["Arn"], algorithm, int(bits) // 8)
    assert kms.generate_mac(KeyId=key["KeyId"], Message=b"hello", MacAlgorithm=algorithm)["Mac"] == out["Mac"]
    assert kms.verify_mac(KeyId=key["KeyId"], Message=b"hello", MacAlgorithm=algorithm, Mac=out["Mac"])["MacValid"]
    with pytest.raises(ClientError) as e:
        kms.verify_mac(KeyId=key["KeyId"], Message=b"hellO", MacAlgorithm=algorithm, Mac=out["Mac"])
    assert error(e) == ("KMSInvalidMacException", "")
    wrong = "HMAC_SHA_512" if bits != "512" else "HMAC_SHA_256"
    with pytest.raises(ClientError) as e:
        kms.generate_mac(KeyId=key["KeyId"], Message=b"hello", MacAlgorithm=wrong)
    assert error(e) == ("InvalidKeyUsageException", f"Algorithm {wrong} is incompatible with key spec HMAC_{bits}.")
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=new_key(kms)["KeyId"], Plaintext=b"x")["CiphertextBlob"],
                    KeyId=key["KeyId"])
    assert error(e)[0] == "IncorrectKeyException"


# == aliases =====================================================================================
def test_aliases_name_keys_everywhere_a_key_id_goes(kms) -> None:
    a, b = new_key(kms), new_key(kms)
    kms.create_alias(AliasName="alias/app/orders", TargetKeyId=a["KeyId"])
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/app/orders"
    for ident in ("alias/app/orders", alias_arn):
        assert kms.describe_key(KeyId=ident)["KeyMetadata"]["KeyId"] == a["KeyId"]
        blob = kms.encrypt(KeyId=ident, Plaintext=b"x")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["KeyId"] == a["Arn"]
    entry = [x for x in kms.list_aliases()["Aliases"] if x["AliasName"] == "alias/app/orders"][0]
    assert (entry["AliasArn"], entry["TargetKeyId"]) == (alias_arn, a["KeyId"])
    kms.update_alias(AliasName="alias/app/orders", TargetKeyId=b["Arn"])
    assert kms.encrypt(KeyId="alias/app/orders", Plaintext=b"x")["KeyId"] == b["Arn"]
    assert [x["AliasName"] for x in kms.list_aliases(KeyId=b["KeyId"])["Aliases"]] == ["alias/app/orders"]
    assert kms.list_aliases(KeyId=a["KeyId"])["Aliases"] == []
    kms.delete_alias(AliasName="alias/app/orders")
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId="alias/app/orders")
    assert error(e) == ("NotFoundException", f"Alias {alias_arn} is not found.")


def test_alias_rules(kms) -> None:
    key = new_key(kms)["KeyId"]
    kms.create_alias(AliasName="alias/taken", TargetKeyId=key)
    for params, expected in [
        ({"AliasName": "no-prefix", "TargetKeyId": key},
         ("ValidationException", 'Alias must start with the prefix "alias/". Please see '
                                 "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")),
        ({"AliasName": "alias/aws/mine", "TargetKeyId": key}, ("NotAuthorizedException", "")),
        ({"AliasName": "alias/taken", "TargetKeyId": key},
         ("AlreadyExistsException", f"An alias with the name arn:aws:kms:{REGION}:{ACCOUNT}:alias/taken already exists")),
        ({"AliasName": "alias/other", "TargetKeyId": "alias/taken"},
         ("ValidationException", "Aliases must refer to keys. Not aliases")),
        ({"AliasName": "alias/bad name", "TargetKeyId": key},
         ("ValidationException", "1 validation error detected: Value 'alias/bad name' at 'aliasName' failed to "
                                 "satisfy constraint: Member must satisfy regular expression pattern: "
                                 "^[a-zA-Z0-9:/_-]+$")),
    ]:
        with pytest.raises(ClientError) as e:
            kms.create_alias(**params)
        assert error(e) == expected
    with pytest.raises(ClientError) as e:
        kms.delete_alias(AliasName="alias/missing")
    assert error(e) == ("NotFoundException", f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/missing is not found.")
    hmac_key = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.update_alias(AliasName="alias/taken", TargetKeyId=hmac_key)
    assert error(e)[0] == "ValidationException"


def test_list_aliases_shows_awss_predefined_aliases_and_pages(kms) -> None:
    key = new_key(kms)["KeyId"]
    for i in range(3):
        kms.create_alias(AliasName=f"alias/a{i}", TargetKeyId=key)
    names = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert names == ["alias/a0", "alias/a1", "alias/a2", "alias/aws/lambda", "alias/aws/s3", "alias/aws/sns",
                     "alias/aws/sqs"]
    predefined = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/aws/s3"][0]
    assert "TargetKeyId" not in predefined
    first = kms.list_aliases(Limit=4)
    rest = kms.list_aliases(Limit=4, Marker=first["NextMarker"])
    assert [a["AliasName"] for a in first["Aliases"] + rest["Aliases"]] == names and not rest["Truncated"]


def test_aws_managed_keys_appear_on_first_use_and_cannot_be_managed(kms) -> None:
    md = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert (md["KeyManager"], md["Description"]) == ("AWS", "Default key that protects my S3 objects when no other "
                                                            "key is defined")
    assert kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyId"] == md["KeyId"]
    entry = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/aws/s3"][0]
    assert entry["TargetKeyId"] == md["KeyId"]
    policy = json.loads(kms.get_key_policy(KeyId=md["KeyId"], PolicyName="default")["Policy"])
    assert policy["Id"] == "auto-s3-2"
    assert policy["Statement"][0]["Condition"] == {"StringEquals": {"kms:CallerAccount": ACCOUNT,
                                                                    "kms:ViaService": f"s3.{REGION}.amazonaws.com"}}
    denied = (f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: kms:ScheduleKeyDeletion on "
              f"resource: {md['Arn']} because no resource-based policy allows the kms:ScheduleKeyDeletion action")
    with pytest.raises(ClientError) as e:
        kms.schedule_key_deletion(KeyId=md["KeyId"])
    assert error(e) == ("AccessDeniedException", denied)
    with pytest.raises(ClientError) as e:
        kms.disable_key(KeyId=md["KeyId"])
    assert error(e)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:                      # only through S3, as its key policy says
        kms.encrypt(KeyId="alias/aws/s3", Plaintext=b"x")
    assert error(e)[0] == "AccessDeniedException"


# == states ======================================================================================
def test_a_disabled_key_refuses_cryptography_until_enabled(kms) -> None:
    key = new_key(kms)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=key["KeyId"])
    md = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"]) == ("Disabled", False)
    disabled = ("DisabledException", f"{key['Arn']} is disabled.")
    for call in (lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"),
                 lambda: kms.decrypt(CiphertextBlob=blob),
                 lambda: kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256"),
                 lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key["KeyId"]),
                 lambda: kms.enable_key_rotation(KeyId=key["KeyId"]),
                 lambda: kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root",
                                          Operations=["Decrypt"])):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e) == disabled
    kms.update_key_description(KeyId=key["KeyId"], Description="still manageable")
    kms.enable_key(KeyId=key["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_a_key_pending_deletion(kms) -> None:
    key = new_key(kms)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    for days in (6, 31):
        with pytest.raises(ClientError) as e:
            kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=days)
        assert error(e) == ("ValidationException", f"PendingWindowInDays should be between 7 and 30, but it is {days}")
    out = kms.schedule_key_deletion(KeyId=key["KeyId"])
    assert (out["KeyId"], out["KeyState"], out["PendingWindowInDays"]) == (key["Arn"], "PendingDeletion", 30)
    md = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"], md["DeletionDate"]) == ("PendingDeletion", False, out["DeletionDate"])
    pending = ("KMSInvalidStateException", f"{key['Arn']} is pending deletion.")
    for call in (lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x"),
                 lambda: kms.decrypt(CiphertextBlob=blob),
                 lambda: kms.enable_key(KeyId=key["KeyId"]),
                 lambda: kms.disable_key(KeyId=key["KeyId"]),
                 lambda: kms.schedule_key_deletion(KeyId=key["KeyId"]),
                 lambda: kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "a", "TagValue": "b"}]),
                 lambda: kms.update_key_description(KeyId=key["KeyId"], Description="x"),
                 lambda: kms.create_alias(AliasName="alias/late", TargetKeyId=key["KeyId"])):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e) == pending
    assert kms.get_key_policy(KeyId=key["KeyId"])["Policy"]        # reads still work
    with pytest.raises(ClientError) as e:
        kms.cancel_key_deletion(KeyId=new_key(kms)["KeyId"])
    assert error(e)[0] == "KMSInvalidStateException"
    assert kms.cancel_key_deletion(KeyId=key["KeyId"])["KeyId"] == key["Arn"]
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"


# == rotation ====================================================================================
def test_rotation_on_demand_keeps_old_ciphertexts_decryptable(kms, raw_kms) -> None:
    key = new_key(kms)
    before = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"v1", EncryptionContext={"c": "1"})["CiphertextBlob"]
    assert kms.rotate_key_on_demand(KeyId=key["KeyId"])["KeyId"] == key["KeyId"]
    after = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"v2")["CiphertextBlob"]
    rotations = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert [(r["KeyId"], r["RotationType"], r["KeyMaterialState"]) for r in rotations] == \
        [(key["KeyId"], "ON_DEMAND", "CURRENT")]
    assert kms.decrypt(CiphertextBlob=before, EncryptionContext={"c": "1"})["Plaintext"] == b"v1"
    old = kms.decrypt(CiphertextBlob=before, EncryptionContext={"c": "1"})["KeyMaterialId"]
    new = kms.decrypt(CiphertextBlob=after)["KeyMaterialId"]
    assert old == key["CurrentKeyMaterialId"] != new == rotations[0]["KeyMaterialId"]
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"] == new
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is False and "NextRotationDate" not in status
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=180)
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 180)
    kms.disable_key_rotation(KeyId=key["KeyId"])
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is False
    rsa = new_key(kms, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    for call in (lambda: kms.rotate_key_on_demand(KeyId=rsa["KeyId"]),
                 lambda: kms.enable_key_rotation(KeyId=rsa["KeyId"])):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e)[0] == "UnsupportedOperationException"
    with pytest.raises(ClientError) as e:
        raw_kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=30)
    assert error(e) == ("ValidationException", "1 validation error detected: Value '30' at 'rotationPeriodInDays' "
                        "failed to satisfy constraint: Member must have value greater than or equal to 90")


# == key policies ================================================================================
def test_key_policies(kms) -> None:
    key = new_key(kms)["KeyId"]
    default = kms.get_key_policy(KeyId=key)
    assert default["PolicyName"] == "default"
    assert default["Policy"] == (
        '{\n  "Version" : "2012-10-17",\n  "Id" : "key-default-1",\n  "Statement" : [ {\n'
        '    "Sid" : "Enable IAM User Permissions",\n    "Effect" : "Allow",\n    "Principal" : {\n'
        f'      "AWS" : "arn:aws:iam::{ACCOUNT}:root"\n    }},\n    "Action" : "kms:*",\n    "Resource" : "*"\n'
        "  } ]\n}")
    listed = kms.list_key_policies(KeyId=key)
    assert (listed["PolicyNames"], listed["Truncated"]) == (["default"], False)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": "app", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/app"},
         "Action": ["kms:Decrypt"], "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:t": "a"}}},
        {"Sid": "svc", "Effect": "Allow", "Principal": {"Service": "sqs.amazonaws.com"}, "Action": "kms:GenerateDataKey",
         "Resource": "*"}]})
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy)
    assert kms.get_key_policy(KeyId=key)["Policy"] == policy
    created = new_key(kms, Policy=policy)
    assert kms.get_key_policy(KeyId=created["KeyId"])["Policy"] == policy
    syntax = "Syntax errors in policy."            # the policy evaluator's wording (AWS documents only the code)
    for bad, message in (("{", syntax), ("[]", syntax), (json.dumps({"Statement": []}), syntax),
                         (json.dumps({"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "kms:*",
                                                     "Resource": "*"}]}), syntax),
                         (json.dumps({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:s3:::b"},
                                                     "Action": "kms:*", "Resource": "*"}]}),
                          "Policy contains a statement with one or more invalid principals.")):
        with pytest.raises(ClientError) as e:
            kms.put_key_policy(KeyId=key, PolicyName="default", Policy=bad)
        assert error(e) == ("MalformedPolicyDocumentException", message)
    assert kms.get_key_policy(KeyId=key)["Policy"] == policy
    with pytest.raises(ClientError) as e:
        kms.get_key_policy(KeyId=key, PolicyName="other")
    assert error(e) == ("NotFoundException", "No such policy exists")


# == grants ======================================================================================
def test_grants(kms) -> None:
    key = new_key(kms)
    grantee = f"arn:aws:iam::{ACCOUNT}:role/worker"
    retiring = f"arn:aws:iam::{ACCOUNT}:role/admin"
    g = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee, RetiringPrincipal=retiring,
                         Operations=["Encrypt", "Decrypt", "GenerateDataKey"], Name="workers",
                         Constraints={"EncryptionContextSubset": {"tenant": "a"}})
    assert len(g["GrantId"]) == 64 and g["GrantToken"]
    again = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee, RetiringPrincipal=retiring,
                             Operations=["Encrypt", "Decrypt", "GenerateDataKey"], Name="workers",
                             Constraints={"EncryptionContextSubset": {"tenant": "a"}})
    assert again["GrantId"] == g["GrantId"] and again["GrantToken"] != g["GrantToken"]   # the same grant, by name
    entry = kms.list_grants(KeyId=key["KeyId"])["Grants"]
    assert len(entry) == 1
    assert {k: entry[0][k] for k in ("KeyId", "GrantId", "Name", "GranteePrincipal", "RetiringPrincipal",
                                     "IssuingAccount", "Operations", "Constraints")} == {
        "KeyId": key["Arn"], "GrantId": g["GrantId"], "Name": "workers", "GranteePrincipal": grantee,
        "RetiringPrincipal": retiring, "IssuingAccount": f"arn:aws:iam::{ACCOUNT}:root",
        "Operations": ["Encrypt", "Decrypt", "GenerateDataKey"],
        "Constraints": {"EncryptionContextSubset": {"tenant": "a"}}}
    assert kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"tenant": "a"},
                       GrantTokens=[g["GrantToken"]])["KeyId"] == key["Arn"]
    other = kms.create_grant(KeyId=key["Arn"], GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/other",
                             Operations=["DescribeKey"])
    assert len(kms.list_grants(KeyId=key["KeyId"])["Grants"]) == 2
    assert [x["GrantId"] for x in kms.list_grants(KeyId=key["KeyId"], GranteePrincipal=grantee)["Grants"]] == \
        [g["GrantId"]]
    assert [x["GrantId"] for x in kms.list_retirable_grants(RetiringPrincipal=retiring)["Grants"]] == [g["GrantId"]]
    page = kms.list_grants(KeyId=key["KeyId"], Limit=1)
    assert page["Truncated"] and len(kms.list_grants(KeyId=key["KeyId"], Marker=page["NextMarker"])["Grants"]) == 1
    kms.retire_grant(GrantToken=g["GrantToken"])
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=other["GrantId"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []
    with pytest.raises(ClientError) as e:
        kms.revoke_grant(KeyId=key["KeyId"], GrantId=other["GrantId"])
    assert error(e)[0] == "InvalidGrantIdException"
    with pytest.raises(ClientError) as e:
        kms.retire_grant(GrantToken="bm90IGEgZ3JhbnQgdG9rZW4")
    assert error(e)[0] == "InvalidGrantTokenException"
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=["forged"])
    assert error(e)[0] == "InvalidGrantTokenException"
    for params in ({"Operations": ["Sign"]}, {"Operations": ["DescribeKey"],
                                              "Constraints": {"EncryptionContextEquals": {"a": "b"}}}):
        with pytest.raises(ClientError) as e:
            kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee, **params)
        assert error(e)[0] == "ValidationException"


# == not served, answered ========================================================================
def test_what_tsunagi_keys_cannot_do_is_answered_as_aws_answers_it(kms) -> None:
    key = new_key(kms)
    with pytest.raises(ClientError) as e:
        kms.get_parameters_for_import(KeyId=key["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                      WrappingKeySpec="RSA_2048")
    assert error(e) == ("UnsupportedOperationException", f"{key['Arn']} origin is AWS_KMS which is not valid for "
                        "this operation.")
    assert kms.describe_custom_key_stores()["CustomKeyStores"] == []
    with pytest.raises(ClientError) as e:
        kms.derive_shared_secret(KeyId=key["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=b"x")
    assert error(e) == ("InvalidKeyUsageException", f"{key['Arn']} key usage is ENCRYPT_DECRYPT which is not valid "
                        "for DeriveSharedSecret.")


def test_nonsense_gets_a_400_never_a_500(kms, raw_kms) -> None:
    key = new_key(kms)["KeyId"]
    calls = [
        lambda: kms.create_key(Policy="[" * 50_000 + "]" * 50_000),
        lambda: kms.create_key(Policy=json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*",
                                                                 "Action": "kms:*", "Resource": "中"}]},
                                                  ensure_ascii=False)),
        lambda: kms.list_key_rotations(KeyId=key, Marker="bm90IGEgbnVtYmVy"),
        lambda: kms.list_aliases(Marker="%%%"),
        lambda: kms.describe_key(KeyId="ключ"),
        lambda: kms.describe_key(KeyId="arn:aws:sqs:us-east-1:000000000000:queue"),
        lambda: kms.decrypt(CiphertextBlob=bytes(range(256))),
        lambda: kms.decrypt(CiphertextBlob=b"TSK\x01\x24" + b"1234abcd-12ab-34cd-56ef-1234567890ab" + b"\x00" * 40),
        lambda: kms.retire_grant(GrantToken="ключ"),
        lambda: kms.verify(KeyId=new_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyId"], Message=b"m",
                           Signature=b"\x00", SigningAlgorithm="ECDSA_SHA_256"),
        lambda: kms.sign(KeyId=key, Message=b"m", SigningAlgorithm="ML_DSA_SHAKE_256"),
        lambda: kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionAlgorithm="SM2PKE"),
        lambda: kms.generate_data_key_pair(KeyId=key, KeyPairSpec="SM2"),
        lambda: kms.create_grant(KeyId=key, GranteePrincipal="not a principal!", Operations=["Decrypt"]),
        lambda: raw_kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=0),
        lambda: raw_kms.list_keys(Limit=0),
        lambda: kms.list_aliases(Limit=101),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.value.response["Error"]
