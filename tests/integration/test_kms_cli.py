"""KMS with the aws CLI, the way the AWS docs' examples use it: keys, aliases, encrypt and decrypt
through files, data keys, signing, policies, rotation, grants and errors (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

ACCOUNT = "000000000000"


def run(server, *args: str) -> dict:
    out = server.aws("kms", *args).stdout
    return json.loads(out) if out.strip() else {}


def text(server, *args: str) -> str:
    return server.aws("kms", *args, "--output", "text").stdout.strip()


def test_encrypt_and_decrypt_files_through_an_alias(server, tmp_path: Path) -> None:
    key = run(server, "create-key", "--description", "cli key", "--tags", "TagKey=env,TagValue=dev")["KeyMetadata"]
    server.aws("kms", "create-alias", "--alias-name", "alias/cli", "--target-key-id", key["KeyId"])
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"the CLI's secret\n")
    # aws kms encrypt --key-id alias/cli --plaintext fileb://secret.txt --query CiphertextBlob --output text
    blob_b64 = text(server, "encrypt", "--key-id", "alias/cli", "--plaintext", f"fileb://{secret}",
                    "--encryption-context", "app=cli,stage=test", "--query", "CiphertextBlob")
    sealed = tmp_path / "secret.enc"
    sealed.write_bytes(base64.b64decode(blob_b64))
    plain_b64 = text(server, "decrypt", "--ciphertext-blob", f"fileb://{sealed}", "--encryption-context",
                     "stage=test,app=cli", "--query", "Plaintext")
    assert base64.b64decode(plain_b64) == b"the CLI's secret\n"
    wrong = server.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{sealed}", check=False)
    assert wrong.returncode != 0 and "InvalidCiphertextException" in wrong.stderr
    aliases = run(server, "list-aliases", "--key-id", key["KeyId"])["Aliases"]
    assert [a["AliasName"] for a in aliases] == ["alias/cli"]
    assert server.client("kms").list_resource_tags(KeyId=key["KeyId"])["Tags"] == [{"TagKey": "env",
                                                                                      "TagValue": "dev"}]


def test_list_keys_follows_every_page(server) -> None:
    made = {server.client("kms").create_key()["KeyMetadata"]["KeyId"] for _ in range(3)}
    # the CLI pages by itself (Limit 1: three requests and more)
    listed = run(server, "list-keys", "--page-size", "1")["Keys"]
    assert {k["KeyId"] for k in listed} == made


def test_data_keys_and_signing(server, tmp_path: Path) -> None:
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    dk = run(server, "generate-data-key", "--key-id", key, "--key-spec", "AES_256")
    assert len(base64.b64decode(dk["Plaintext"])) == 32
    blob = tmp_path / "dk.enc"
    blob.write_bytes(base64.b64decode(dk["CiphertextBlob"]))
    assert run(server, "decrypt", "--ciphertext-blob", f"fileb://{blob}")["Plaintext"] == dk["Plaintext"]
    signer = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    message = tmp_path / "message"
    message.write_bytes(b"sign me")
    signature = text(server, "sign", "--key-id", signer["KeyId"], "--message", f"fileb://{message}",
                     "--signing-algorithm", "ECDSA_SHA_256", "--query", "Signature")
    sig = tmp_path / "sig"
    sig.write_bytes(base64.b64decode(signature))
    verified = run(server, "verify", "--key-id", signer["KeyId"], "--message", f"fileb://{message}",
                   "--signature", f"fileb://{sig}", "--signing-algorithm", "ECDSA_SHA_256")
    assert verified["SignatureValid"] is True


def test_policy_rotation_grants_and_deletion(server, tmp_path: Path) -> None:
    kms = server.client("kms")
    key = kms.create_key()["KeyMetadata"]
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*", "Resource": "*"}]}))
    server.aws("kms", "put-key-policy", "--key-id", key["KeyId"], "--policy-name", "default",
               "--policy", f"file://{policy}")
    got = text(server, "get-key-policy", "--key-id", key["KeyId"], "--policy-name", "default", "--query", "Policy")
    assert json.loads(got)["Statement"][0]["Sid"] == "root"
    bad = server.aws("kms", "put-key-policy", "--key-id", key["KeyId"], "--policy-name", "default",
                     "--policy", "{not json", check=False)
    assert bad.returncode != 0 and "MalformedPolicyDocumentException" in bad.stderr
    server.aws("kms", "rotate-key-on-demand", "--key-id", key["KeyId"])
    assert [r["RotationType"] for r in run(server, "list-key-rotations", "--key-id", key["KeyId"])["Rotations"]] \
        == ["ON_DEMAND"]
    grant = run(server, "create-grant", "--key-id", key["KeyId"], "--grantee-principal",
                f"arn:aws:iam::{ACCOUNT}:role/app", "--operations", "Decrypt", "Encrypt")
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key["KeyId"])["Grants"]] == [grant["GrantId"]]
    deletion = run(server, "schedule-key-deletion", "--key-id", key["KeyId"], "--pending-window-in-days", "7")
    assert deletion["KeyState"] == "PendingDeletion" and deletion["PendingWindowInDays"] == 7
    refused = server.aws("kms", "encrypt", "--key-id", key["KeyId"], "--plaintext", "aGk=", check=False)
    assert refused.returncode != 0 and "KMSInvalidStateException" in refused.stderr
    assert f"{key['Arn']} is pending deletion." in refused.stderr
    server.aws("kms", "cancel-key-deletion", "--key-id", key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"


def test_errors_read_as_awss(server) -> None:
    missing = "1234abcd-12ab-34cd-56ef-1234567890ab"
    out = server.aws("kms", "describe-key", "--key-id", missing, check=False)
    assert out.returncode != 0
    assert (f"An error occurred (NotFoundException) when calling the DescribeKey operation: Key "
            f"'arn:aws:kms:us-east-1:{ACCOUNT}:key/{missing}' does not exist") in out.stderr
    out = server.aws("kms", "create-alias", "--alias-name", "alias/aws/mine", "--target-key-id", missing,
                     check=False)
    assert "NotAuthorizedException" in out.stderr


def test_rsa_and_hmac_keys_round_trip_through_the_cli(server, tmp_path: Path) -> None:
    kms = server.client("kms")
    message = tmp_path / "message"
    message.write_bytes(b"a message for every key type\n")
    # RSA: encrypt and decrypt (OAEP), sign and verify (PSS)
    rsa = run(server, "create-key", "--key-spec", "RSA_2048", "--key-usage", "ENCRYPT_DECRYPT")["KeyMetadata"]
    blob_b64 = text(server, "encrypt", "--key-id", rsa["KeyId"], "--plaintext", f"fileb://{message}",
                    "--encryption-algorithm", "RSAES_OAEP_SHA_256", "--query", "CiphertextBlob")
    blob = tmp_path / "rsa.enc"
    blob.write_bytes(base64.b64decode(blob_b64))
    plain = text(server, "decrypt", "--key-id", rsa["KeyId"], "--ciphertext-blob", f"fileb://{blob}",
                 "--encryption-algorithm", "RSAES_OAEP_SHA_256", "--query", "Plaintext")
    assert base64.b64decode(plain) == message.read_bytes()
    signer = run(server, "create-key", "--key-spec", "RSA_3072", "--key-usage", "SIGN_VERIFY")["KeyMetadata"]
    signature = text(server, "sign", "--key-id", signer["KeyId"], "--message", f"fileb://{message}",
                     "--signing-algorithm", "RSASSA_PSS_SHA_384", "--query", "Signature")
    sig = tmp_path / "rsa.sig"
    sig.write_bytes(base64.b64decode(signature))
    assert run(server, "verify", "--key-id", signer["KeyId"], "--message", f"fileb://{message}",
               "--signature", f"fileb://{sig}", "--signing-algorithm", "RSASSA_PSS_SHA_384")["SignatureValid"] is True
    public = run(server, "get-public-key", "--key-id", signer["KeyId"])
    assert public["KeySpec"] == "RSA_3072" and public["SigningAlgorithms"]
    # HMAC: generate-mac and verify-mac; a changed message does not verify
    hmac_key = run(server, "create-key", "--key-spec", "HMAC_256", "--key-usage", "GENERATE_VERIFY_MAC")["KeyMetadata"]
    mac_b64 = text(server, "generate-mac", "--key-id", hmac_key["KeyId"], "--message", f"fileb://{message}",
                   "--mac-algorithm", "HMAC_SHA_256", "--query", "Mac")
    mac = tmp_path / "mac"
    mac.write_bytes(base64.b64decode(mac_b64))
    assert run(server, "verify-mac", "--key-id", hmac_key["KeyId"], "--message", f"fileb://{message}",
               "--mac", f"fileb://{mac}", "--mac-algorithm", "HMAC_SHA_256")["MacValid"] is True
    other = tmp_path / "other"
    other.write_bytes(b"another message\n")
    out = server.aws("kms", "verify-mac", "--key-id", hmac_key["KeyId"], "--message", f"fileb://{other}",
                     "--mac", f"fileb://{mac}", "--mac-algorithm", "HMAC_SHA_256", check=False)
    assert out.returncode != 0 and "KMSInvalidMacException" in out.stderr
    assert kms.describe_key(KeyId=hmac_key["KeyId"])["KeyMetadata"]["MacAlgorithms"] == ["HMAC_SHA_256"]
