"""Delivery-policy retry schedules and the canonical string to sign."""

from __future__ import annotations

import asyncio
import base64
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tsunagi.services.sns.attributes import RetryPolicy
from tsunagi.services.sns.envelope import Outgoing, iso_timestamp
from tsunagi.services.sns.signing import Signer, generate, string_to_sign


def test_default_http_policy_retries_three_times_20_seconds_apart():
    p = RetryPolicy()
    assert [p.delay(i) for i in range(1, 5)] == [20.0, 20.0, 20.0, None]


def test_phases_immediate_min_backoff_max():
    p = RetryPolicy(min_delay=1, max_delay=10, num_retries=8, num_no_delay=2, num_min_delay=1, num_max_delay=1,
                    backoff="linear")
    delays = [p.delay(i) for i in range(1, 10)]
    assert delays[:3] == [0.0, 0.0, 1.0]
    backoff = delays[3:7]
    assert backoff == sorted(backoff) and backoff[0] == 1.0 and backoff[-1] == 10.0
    assert delays[7] == 10.0 and delays[8] is None


def test_backoff_functions_stay_between_min_and_max():
    for fn in ("linear", "arithmetic", "geometric", "exponential"):
        p = RetryPolicy(min_delay=2, max_delay=60, num_retries=10, backoff=fn)
        delays = [p.delay(i) for i in range(1, 11)]
        assert delays == sorted(delays) and delays[0] == 2.0 and delays[-1] == 60.0, fn


def test_string_to_sign_orders_keys_and_skips_absent_subject():
    doc = {"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": "hi", "Timestamp": "ts",
           "UnsubscribeURL": "u"}
    assert string_to_sign(doc) == "Message\nhi\nMessageId\nm\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n"
    conf = {"Type": "SubscriptionConfirmation", "MessageId": "m", "Token": "k", "TopicArn": "t", "Message": "x",
            "SubscribeURL": "s", "Timestamp": "ts"}
    assert string_to_sign(conf) == ("Message\nx\nMessageId\nm\nSubscribeURL\ns\nTimestamp\nts\nToken\nk\n"
                                    "TopicArn\nt\nType\nSubscriptionConfirmation\n")


def test_notifications_verify_with_the_certificate_for_both_versions():
    key_id, key_pem, cert_pem = generate()
    signer = Signer(key_id, key_pem, cert_pem)
    public = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
    for version, algo in (("1", hashes.SHA1()), ("2", hashes.SHA256())):
        msg = Outgoing("id-1", "arn:aws:sns:us-east-1:000000000000:t", "héllo\nworld", None, "subj", {},
                       1_700_000_000_123, "http://localhost:4566", signer, version)
        doc = msg.notification("sqs", "arn:aws:sns:us-east-1:000000000000:t:sub")
        assert doc["Timestamp"] == "2023-11-14T22:13:20.123Z" == iso_timestamp(1_700_000_000_123)
        public.verify(base64.b64decode(doc["Signature"]), string_to_sign(doc).encode(),  # type: ignore[call-arg,arg-type]
                      padding.PKCS1v15(), algo)


def test_signatures_made_ahead_on_signing_threads_verify_and_match_the_rendered_document():
    # A publish signs each distinct message text ahead of its transaction, on a signing thread; what
    # subscribers get must carry that signature, and it must verify like one made inline.
    key_id, key_pem, cert_pem = generate()
    signer = Signer(key_id, key_pem, cert_pem)
    public = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()

    async def body():
        msgs = [Outgoing(f"id-{i}", "arn:aws:sns:us-east-1:000000000000:t", f"message {i}", None,
                         None if i % 2 else "subj", {}, 1_700_000_000_000 + i, "http://localhost:4566", signer, "2")
                for i in range(8)]
        await asyncio.gather(*(m.presign("sqs") for m in msgs))   # several at once, on the threads
        return [json.loads(m.notification_json("sqs", "arn:aws:sns:us-east-1:000000000000:t:sub")) for m in msgs]

    docs = asyncio.run(body())
    assert [d["MessageId"] for d in docs] == [f"id-{i}" for i in range(8)]
    for doc in docs:
        public.verify(base64.b64decode(doc["Signature"]), string_to_sign(doc).encode(),  # type: ignore[call-arg,arg-type]
                      padding.PKCS1v15(), hashes.SHA256())
