"""Presigned URLs (SigV4 query auth) and browser POST uploads, over plain HTTP."""

from __future__ import annotations

import time
from unittest import mock

import pytest
import requests


@pytest.fixture
def s3(server):
    client = server.client("s3")
    client.create_bucket(Bucket="signed")
    client.put_object(Bucket="signed", Key="dir/file name.txt", Body=b"presigned body")
    return client


def test_presigned_get_and_put(s3):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "signed", "Key": "dir/file name.txt"},
                                    ExpiresIn=300)
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"presigned body"
    put = s3.generate_presigned_url("put_object", Params={"Bucket": "signed", "Key": "uploaded.bin"}, ExpiresIn=300)
    r = requests.put(put, data=b"from a browser", timeout=10)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket="signed", Key="uploaded.bin")["Body"].read() == b"from a browser"


def test_tampered_presigned_url_is_refused(s3):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "signed", "Key": "dir/file name.txt"},
                                    ExpiresIn=300)
    tampered = url.replace("file%20name", "other")
    r = requests.get(tampered, timeout=10)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
    from urllib.parse import parse_qsl, urlencode, urlsplit

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    name = "X-Amz-Signature" if "X-Amz-Signature" in query else "Signature"
    query[name] = "0" * len(query[name])
    bad = f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"
    r = requests.get(bad, timeout=10)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_presigned_urls_of_both_signature_versions(server, s3, version):
    client = server.client("s3", signature_version=version)
    url = client.generate_presigned_url("get_object", Params={"Bucket": "signed", "Key": "dir/file name.txt"})
    assert ("X-Amz-Signature=" in url) == (version == "s3v4")
    assert requests.get(url, timeout=10).content == b"presigned body"
    r = requests.get(url.replace("signed/dir", "signed/dir2"), timeout=10)
    assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text


def test_expired_presigned_url_is_refused(s3):
    with mock.patch("time.time", return_value=time.time() - 3600):
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "signed", "Key": "dir/file name.txt"},
                                        ExpiresIn=60)
    r = requests.get(url, timeout=10)
    assert r.status_code == 403
    assert "<Code>AccessDenied</Code>" in r.text and "<Message>Request has expired</Message>" in r.text


def test_unknown_keys_are_not_signature_checked_but_still_expire(server, s3):
    import boto3

    stranger = boto3.client("s3", endpoint_url=server.url, aws_access_key_id="AKIAEXAMPLEUNKNOWN",
                            aws_secret_access_key="some-real-secret", region_name="us-east-1")
    url = stranger.generate_presigned_url("get_object", Params={"Bucket": "signed", "Key": "dir/file name.txt"})
    r = requests.get(url, timeout=10)
    assert r.status_code == 200


def test_post_policy_upload(s3, server):
    post = s3.generate_presigned_post("signed", "uploads/${filename}",
                                      Conditions=[["content-length-range", 1, 1024]], ExpiresIn=300)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("photo.txt", b"form bytes")}, timeout=10)
    assert r.status_code == 204, r.text
    assert r.headers["ETag"].strip('"')
    assert s3.get_object(Bucket="signed", Key="uploads/photo.txt")["Body"].read() == b"form bytes"


def test_post_policy_upload_201_document_and_303_redirect(s3, server):
    post = s3.generate_presigned_post("signed", "uploads/${filename}",
                                      Fields={"success_action_status": "201"},
                                      Conditions=[{"success_action_status": "201"}], ExpiresIn=300)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("a.txt", b"abc")}, timeout=10)
    assert r.status_code == 201, r.text
    assert "<PostResponse>" in r.text and "<Key>uploads/a.txt</Key>" in r.text
    post = s3.generate_presigned_post("signed", "uploads/b.txt",
                                      Fields={"success_action_redirect": "http://example.invalid/done"},
                                      Conditions=[{"success_action_redirect": "http://example.invalid/done"}],
                                      ExpiresIn=300)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("b.txt", b"b")}, timeout=10,
                      allow_redirects=False)
    assert r.status_code == 303
    assert r.headers["Location"].startswith("http://example.invalid/done?bucket=signed&key=uploads%2Fb.txt")


def test_post_policy_upload_with_a_bad_signature_is_refused(s3, server):
    post = s3.generate_presigned_post("signed", "uploads/x.txt", ExpiresIn=300)
    fields = dict(post["fields"])
    sig_field = "x-amz-signature" if "x-amz-signature" in fields else "signature"
    fields[sig_field] = "0" * len(fields[sig_field])
    r = requests.post(post["url"], data=fields, files={"file": ("x.txt", b"x")}, timeout=10)
    assert r.status_code == 403
    assert "SignatureDoesNotMatch" in r.text
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket="signed", Key="uploads/x.txt")


def test_ranged_get_is_206_partial_content(s3, server):
    s3.put_object(Bucket="signed", Key="r.txt", Body=b"0123456789")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "signed", "Key": "r.txt"})
    r = requests.get(url, headers={"Range": "bytes=2-4"}, timeout=10)
    assert r.status_code == 206
    assert r.content == b"234" and r.headers["Content-Range"] == "bytes 2-4/10"
    r = requests.get(url, headers={"If-None-Match": r.headers["ETag"]}, timeout=10)
    assert r.status_code == 304 and r.content == b""


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_presigned_put_keeps_metadata_given_in_the_query(server, s3, version):
    # SDKs put x-amz-meta-* (and x-amz-acl, ...) of a presigned URL in its query: S3 keeps them
    client = server.client("s3", signature_version=version)
    url = client.generate_presigned_url("put_object", Params={
        "Bucket": "signed", "Key": "meta.bin", "Metadata": {"owner": "ann"}, "ACL": "public-read"}, ExpiresIn=300)
    # SigV2 moves them to the query; SigV4 signs them as headers the sender must send
    headers = {} if version == "s3" else {"x-amz-meta-owner": "ann", "x-amz-acl": "public-read"}
    assert ("x-amz-meta-owner=ann" in url) == (version == "s3")
    r = requests.put(url, data=b"with metadata", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert s3.head_object(Bucket="signed", Key="meta.bin")["Metadata"] == {"owner": "ann"}
    grants = s3.get_object_acl(Bucket="signed", Key="meta.bin")["Grants"]
    assert {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
            "Permission": "READ"} in grants
    # the metadata is signed: changing it breaks the signature
    if version == "s3":
        r = requests.put(url.replace("x-amz-meta-owner=ann", "x-amz-meta-owner=bob"), data=b"x", timeout=10)
    else:
        r = requests.put(url, data=b"x", headers={**headers, "x-amz-meta-owner": "bob"}, timeout=10)
    assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text
