"""Delivery-policy retry schedules and the canonical string to sign."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tsunagi.ports.sns import RetryPolicy
from tsunagi.services.sns import signer_process
from tsunagi.services.sns.envelope import Outgoing, iso_timestamp
from tsunagi.services.sns.signing import Signer, SigningProcess, generate, string_to_sign


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


def _signer_and_public():
    """A signer with a fresh key, and the public key of the certificate it serves."""
    key_id, key_pem, cert_pem = generate()
    return Signer(key_id, key_pem, cert_pem), x509.load_pem_x509_certificate(cert_pem.encode()).public_key()


def test_notifications_verify_with_the_certificate_for_both_versions():
    signer, public = _signer_and_public()
    for version, algo in (("1", hashes.SHA1()), ("2", hashes.SHA256())):
        msg = Outgoing("id-1", "arn:aws:sns:us-east-1:000000000000:t", "héllo\nworld", None, "subj", {},
                       1_700_000_000_123, "http://localhost:4566", signer, version)
        doc = msg.notification("sqs", "arn:aws:sns:us-east-1:000000000000:t:sub")
        assert doc["Timestamp"] == "2023-11-14T22:13:20.123Z" == iso_timestamp(1_700_000_000_123)
        public.verify(base64.b64decode(doc["Signature"]), string_to_sign(doc).encode(),  # type: ignore[call-arg,arg-type]
                      padding.PKCS1v15(), algo)


TOPIC = "arn:aws:sns:us-east-1:000000000000:t"


def _messages(signer: Signer, version: str, count: int, text: str = "m {}", subjects: tuple = (None,),
              prefix: str = "id-") -> list[Outgoing]:
    """``count`` messages on TOPIC: ids ``prefix0``…, texts from ``text``, subjects taken in turn."""
    return [Outgoing(f"{prefix}{i}", TOPIC, text.format(i), None, subjects[i % len(subjects)], {},
                     1_700_000_000_000 + i, "http://localhost:4566", signer, version) for i in range(count)]


def _documents(msgs: list[Outgoing]) -> list[dict]:
    """The notification documents an SQS subscription of TOPIC gets."""
    return [json.loads(m.notification_json("sqs", f"{TOPIC}:s")) for m in msgs]


def _verify_all(public, docs, algo) -> None:
    for doc in docs:
        public.verify(base64.b64decode(doc["Signature"]), string_to_sign(doc).encode(),  # type: ignore[call-arg,arg-type]
                      padding.PKCS1v15(), algo)


def test_signatures_made_ahead_on_signing_threads_verify_and_match_the_rendered_document():
    # A publish signs each distinct message text ahead of its transaction, on a signing thread; what
    # subscribers get must carry that signature, and it must verify like one made inline.
    signer, public = _signer_and_public()

    async def body():
        msgs = _messages(signer, "2", 8, "message {}", subjects=("subj", None))
        await asyncio.gather(*(m.presign("sqs") for m in msgs))   # several at once, on the threads
        return _documents(msgs)

    docs = asyncio.run(body())
    assert [d["MessageId"] for d in docs] == [f"id-{i}" for i in range(8)]
    _verify_all(public, docs, hashes.SHA256())


async def _started(signer: Signer) -> SigningProcess:
    """Start one signing process for ``signer`` and wait until it has loaded the key."""
    await signer.start_processes(1)
    proc = signer.processes[0]
    for _ in range(200):
        if proc.ready:
            break
        await asyncio.sleep(0.025)
    assert proc.ready, "the signing process never said it was ready"
    return proc


def test_a_signing_process_signs_what_the_certificate_verifies_for_both_versions():
    # Publishes sign in a child process once it is ready; its signatures must verify with the
    # certificate exactly as those made in the server do, and in the order the jobs were sent.
    signer, public = _signer_and_public()

    async def body():
        proc = await _started(signer)
        try:
            out = {}
            for version in ("1", "2"):
                msgs = _messages(signer, version, 12, "héllo {}", subjects=(None, "subj"), prefix=f"id-{version}-")
                await asyncio.gather(*(m.presign("sqs") for m in msgs))
                assert proc.pending() == 0
                out[version] = _documents(msgs)
            return out
        finally:
            signer.close_processes()

    docs = asyncio.run(body())
    _verify_all(public, docs["1"], hashes.SHA1())
    _verify_all(public, docs["2"], hashes.SHA256())


def test_when_the_signing_process_dies_messages_are_still_signed_in_the_server():
    # A signing process that is killed (or crashes) must not lose or stall a publish: jobs it held
    # fail over to the server's signing threads, and so do the jobs after it.
    signer, public = _signer_and_public()

    async def body():
        proc = await _started(signer)
        msgs = _messages(signer, "1", 6)
        pending = [asyncio.ensure_future(m.presign("sqs")) for m in msgs[:3]]
        await asyncio.sleep(0)
        proc._transport.kill()                                  # gone, jobs in flight or not
        await asyncio.wait_for(asyncio.gather(*pending), 10)
        await asyncio.wait_for(asyncio.gather(*(m.presign("sqs") for m in msgs[3:])), 10)
        alive = signer.processes_alive()
        signer.close_processes()
        return alive, _documents(msgs)

    alive, docs = asyncio.run(body())
    assert not alive
    assert len(docs) == 6
    _verify_all(public, docs, hashes.SHA1())


def test_signatures_sent_ahead_survive_the_signing_process_dying_before_they_are_collected():
    # A publish sends its signature job right after the filters (sign_soon) and collects it later
    # (presign); if the process dies in between, the signature is made in the server instead.
    signer, public = _signer_and_public()

    async def body():
        proc = await _started(signer)
        msgs = _messages(signer, "2", 4)
        for m in msgs:
            m.sign_soon("sqs")
        sent = proc.pending()
        proc._transport.kill()
        await asyncio.wait_for(asyncio.gather(*(m.presign("sqs") for m in msgs)), 10)
        signer.close_processes()
        return sent, _documents(msgs)

    sent, docs = asyncio.run(body())
    assert sent == 4                      # all four went to the process ahead of time
    _verify_all(public, docs, hashes.SHA256())


def test_the_signing_process_ends_when_its_input_closes():
    # The child reads jobs from its standard input: when the server closes it (shutdown) or dies,
    # the child must end by itself rather than linger.
    key_id, key_pem, cert_pem = generate()
    child = subprocess.Popen([sys.executable, "-m", "tsunagi.services.sns.signer_process"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(signer_process.KEY.pack(len(key_pem)) + key_pem.encode())
    data = b"Message\nhi\nType\nNotification\n"
    child.stdin.write(signer_process.JOB.pack(7, 2, len(data)) + data)
    child.stdin.flush()
    assert signer_process.REPLY.unpack(child.stdout.read(signer_process.REPLY.size)) == (0, 0)   # ready
    job, length = signer_process.REPLY.unpack(child.stdout.read(signer_process.REPLY.size))
    sig = child.stdout.read(length)
    assert job == 7
    public = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
    public.verify(base64.b64decode(sig), data, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg,arg-type]
    child.stdin.close()
    assert child.wait(timeout=10) == 0
