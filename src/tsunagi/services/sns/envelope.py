"""What subscribers receive: the JSON notification document SNS sends (and signs), the Lambda event,
the e-mail texts, and the SQS message attributes of raw deliveries.

A :class:`Outgoing` is one published message; it builds the document for each subscription
(only ``UnsubscribeURL`` differs between subscriptions, and it is not signed, so the signature
is computed once per distinct message text).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from tsunagi.services.sns.signing import Ahead, Signer

if TYPE_CHECKING:
    from tsunagi.config import Config
    from tsunagi.context import RequestContext

SENDER = "no-reply@sns.amazonaws.com"
EMAIL_FOOTER = (
    "\n\n--\nIf you wish to stop receiving notifications from this topic, please click or visit the link "
    "below to unsubscribe:\n{unsubscribe}\n\nPlease do not reply directly to this email. If you have any "
    "questions or comments regarding this email, please contact us at https://aws.amazon.com/support")


def base_url(ctx: RequestContext, config: Config) -> str:
    """Where a message's URLs (SigningCertURL, UnsubscribeURL, SubscribeURL) point: the server's public
    URL (``TSUNAGI_PUBLIC_URL``, default the bound address), never the request's Host or
    X-Forwarded-Proto (a forged Host would point subscribers at someone else's server)."""
    return config.public_base()


_second: list[Any] = [-1, ""]     # the last second formatted, and its text


def iso_timestamp(ms: int) -> str:
    """``2012-04-25T21:49:25.719Z``. The date and time to the second are formatted once a second."""
    second = ms // 1000
    if _second[0] != second:
        _second[:] = [second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")]
    return f"{_second[1]}{ms % 1000:03d}Z"


@lru_cache(maxsize=4096)
def unsubscribe_url(base: str, subscription_arn: str) -> str:
    return f"{base}/?Action=Unsubscribe&SubscriptionArn={quote(subscription_arn, safe=':/')}"


@lru_cache(maxsize=4096)
def _unsubscribe_json(base: str, subscription_arn: str) -> str:
    """:func:`unsubscribe_url` as a JSON string."""
    return orjson.dumps(unsubscribe_url(base, subscription_arn)).decode()


def subscribe_url(base: str, topic_arn: str, token: str) -> str:
    return f"{base}/?Action=ConfirmSubscription&TopicArn={quote(topic_arn, safe=':/')}&Token={token}"


def sns_json(doc: dict[str, Any]) -> str:
    """A notification or confirmation document laid out as SNS writes it: one member a line,
    ``"Key" : value``, two-space indent, nested objects (message attributes) one a line, compact."""
    return "{\n" + ",\n".join(_member_lines(doc)) + "\n}"


def _member_lines(doc: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in doc.items():
        name = orjson.dumps(key).decode()
        if isinstance(value, dict):
            inner = ",\n".join(f"    {orjson.dumps(k).decode()} : {orjson.dumps(v).decode()}" for k, v in value.items())
            lines.append(f"  {name} : {{\n{inner}\n  }}" if value else f"  {name} : {{}}")
        else:
            lines.append(f"  {name} : {orjson.dumps(value).decode()}")
    return lines


def envelope_attributes(attributes: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Message attributes as the notification document carries them: ``{name: {Type, Value}}``."""
    out: dict[str, dict[str, str]] = {}
    for name, attr in attributes.items():
        dtype = attr["DataType"]
        if "BinaryValue" in attr and attr["BinaryValue"] is not None:
            raw = attr["BinaryValue"]
            value = base64.b64encode(raw if isinstance(raw, bytes | bytearray) else str(raw).encode()).decode()
        else:
            value = str(attr.get("StringValue", ""))
        out[name] = {"Type": dtype, "Value": value}
    return out


def sqs_attributes(attributes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Message attributes for a raw delivery to SQS (SQS's MessageAttributeValue shape)."""
    out: dict[str, dict[str, Any]] = {}
    for name, attr in attributes.items():
        dtype = attr["DataType"]
        if dtype.startswith("Binary"):
            raw = attr.get("BinaryValue")
            out[name] = {"DataType": dtype, "BinaryValue": raw if isinstance(raw, bytes) else bytes(raw or b"")}
        else:
            out[name] = {"DataType": dtype, "StringValue": str(attr.get("StringValue", ""))}
    return out


@dataclass(slots=True)
class Outgoing:
    """One published message on its way to the topic's subscriptions."""

    message_id: str
    topic_arn: str
    message: str                                   # the default text
    per_protocol: dict[str, str] | None            # MessageStructure=json: protocol → text
    subject: str | None
    attributes: dict[str, dict[str, Any]]
    timestamp_ms: int
    base_url: str                                   # the endpoint the URLs point at
    signer: Signer
    signature_version: str = "1"
    group_id: str | None = None
    dedup_id: str | None = None
    sequence_number: str | None = None
    display_name: str = ""
    unsigned: bool = False                          # a FIFO topic's: its notifications carry no signature
    _signed: dict[str, str] = field(default_factory=dict)
    _signing: dict[str, Ahead] = field(default_factory=dict)   # text → signature on its way
    _rendered: dict[str, tuple[str, str]] = field(default_factory=dict)   # text → JSON around UnsubscribeURL
    _timestamp: str = ""

    @property
    def timestamp(self) -> str:
        if not self._timestamp:
            self._timestamp = iso_timestamp(self.timestamp_ms)
        return self._timestamp

    def text_for(self, protocol: str) -> str:
        if self.per_protocol is not None:
            return self.per_protocol.get(protocol, self.per_protocol["default"])
        return self.message

    def _signed_fields(self, text: str) -> dict[str, Any]:
        return {"Type": "Notification", "MessageId": self.message_id, "TopicArn": self.topic_arn,
                "Subject": self.subject, "Message": text, "Timestamp": self.timestamp}

    def sign_soon(self, protocol: str) -> None:
        """Send the notification ``protocol``'s subscribers get to a signing process now, so that it
        is signed while the rest of the publish is prepared (:meth:`presign` collects it)."""
        if self.unsigned:
            return
        text = self.text_for(protocol)
        if text not in self._signed and text not in self._signing:
            self._signing[text] = self.signer.sign_ahead(self._signed_fields(text), self.signature_version)

    def signed(self, protocol: str) -> bool:
        """Whether the notification ``protocol``'s subscribers get needs no more signing (it is signed,
        or a FIFO topic's: unsigned); :meth:`presign` has nothing to do then."""
        return self.unsigned or self.text_for(protocol) in self._signed

    async def presign(self, protocol: str) -> None:
        """Sign, ahead of time and off the event loop, the notification ``protocol``'s subscribers
        get (the signed fields do not depend on the subscription)."""
        text = self.text_for(protocol)
        if self.unsigned or text in self._signed:
            return
        ahead = self._signing.pop(text, None) or self.signer.sign_ahead(self._signed_fields(text),
                                                                          self.signature_version)
        sig = await self.signer.collect(ahead)
        self._signed.setdefault(text, sig)

    def notification(self, protocol: str, subscription_arn: str) -> dict[str, Any]:
        """The notification document, keys in AWS's order."""
        text = self.text_for(protocol)
        doc: dict[str, Any] = {"Type": "Notification", "MessageId": self.message_id}
        if self.sequence_number is not None:
            doc["SequenceNumber"] = self.sequence_number
        doc["TopicArn"] = self.topic_arn
        if self.subject is not None:
            doc["Subject"] = self.subject
        doc["Message"] = text
        doc["Timestamp"] = self.timestamp
        if not self.unsigned:
            doc["SignatureVersion"] = self.signature_version
            sig = self._signed.get(text)
            if sig is None:
                sig = self._signed[text] = self.signer.sign(doc, self.signature_version)
            doc["Signature"] = sig
            doc["SigningCertURL"] = f"{self.base_url}/_tsunagi/sns/{self.signer.cert_name}"
        doc["UnsubscribeURL"] = unsubscribe_url(self.base_url, subscription_arn)
        if self.attributes:
            doc["MessageAttributes"] = envelope_attributes(self.attributes)
        return doc

    def notification_json(self, protocol: str, subscription_arn: str) -> str:
        """The document as JSON text (laid out as :func:`sns_json` lays it out). Subscriptions differ
        only in UnsubscribeURL, so the text around it is rendered once per message text."""
        text = self.text_for(protocol)
        parts = self._rendered.get(text)
        if parts is None:
            parts = self._rendered[text] = self._render(protocol, subscription_arn, text)
        return f"{parts[0]}{_unsubscribe_json(self.base_url, subscription_arn)}{parts[1]}"

    def _render(self, protocol: str, subscription_arn: str, text: str) -> tuple[str, str]:
        """The JSON text before and after UnsubscribeURL's value, member by member in
        :meth:`notification`'s order (the names need no escaping: each is written as it is)."""
        if not self.unsigned and text not in self._signed:
            self.notification(protocol, subscription_arn)        # signs it, as a document, here
        dumps = orjson.dumps
        out = ['{\n  "Type" : "Notification",\n  "MessageId" : ', dumps(self.message_id).decode()]
        if self.sequence_number is not None:
            out += [',\n  "SequenceNumber" : ', dumps(self.sequence_number).decode()]
        out += [',\n  "TopicArn" : ', dumps(self.topic_arn).decode()]
        if self.subject is not None:
            out += [',\n  "Subject" : ', dumps(self.subject).decode()]
        out += [',\n  "Message" : ', dumps(text).decode(), ',\n  "Timestamp" : ', dumps(self.timestamp).decode()]
        if not self.unsigned:
            out += [',\n  "SignatureVersion" : ', dumps(self.signature_version).decode(),
                    ',\n  "Signature" : ', dumps(self._signed[text]).decode(),
                    ',\n  "SigningCertURL" : ', dumps(f"{self.base_url}/_tsunagi/sns/{self.signer.cert_name}").decode()]
        out.append(',\n  "UnsubscribeURL" : ')
        after = "\n}"
        if self.attributes:
            inner = ",\n".join(f"    {dumps(k).decode()} : {dumps(v).decode()}"
                               for k, v in envelope_attributes(self.attributes).items())
            after = f',\n  "MessageAttributes" : {{\n{inner}\n  }}\n}}'
        return "".join(out), after

    def lambda_event(self, subscription_arn: str) -> bytes:
        """The event a Lambda subscription's function receives."""
        doc = self.notification("lambda", subscription_arn)
        sns = {"Type": doc["Type"], "MessageId": doc["MessageId"], "TopicArn": doc["TopicArn"],
               "Subject": doc.get("Subject"), "Message": doc["Message"], "Timestamp": doc["Timestamp"],
               "SignatureVersion": doc.get("SignatureVersion"), "Signature": doc.get("Signature"),
               "SigningCertUrl": doc.get("SigningCertURL"), "UnsubscribeUrl": doc["UnsubscribeURL"],
               "MessageAttributes": doc.get("MessageAttributes", {})}
        if self.sequence_number is not None:
            sns["SequenceNumber"] = self.sequence_number
        return orjson.dumps({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
                                          "EventSubscriptionArn": subscription_arn, "Sns": sns}]})

    def email(self, protocol: str, subscription_arn: str, endpoint: str) -> tuple[str, str]:
        """(subject, body) of an ``email`` or ``email-json`` delivery."""
        subject = self.subject or "AWS Notification Message"
        if protocol == "email-json":
            return subject, self.notification_json(protocol, subscription_arn)
        url = unsubscribe_url(self.base_url, subscription_arn) + f"&Endpoint={quote(endpoint, safe='@')}"
        return subject, self.text_for("email") + EMAIL_FOOTER.format(unsubscribe=url)


def confirmation(kind: str, message_id: str, topic_arn: str, token: str, base_url: str, signer: Signer,
                 version: str, now_ms: int) -> dict[str, Any]:
    """A ``SubscriptionConfirmation`` or ``UnsubscribeConfirmation`` document."""
    url = subscribe_url(base_url, topic_arn, token)
    if kind == "SubscriptionConfirmation":
        text = (f"You have chosen to subscribe to the topic {topic_arn}.\n"
                "To confirm the subscription, visit the SubscribeURL included in this message.")
    else:
        text = (f"You have chosen to deactivate subscription {topic_arn}.\n"
                "To cancel this operation and restore the subscription, visit the SubscribeURL included in "
                "this message.")
    doc: dict[str, Any] = {"Type": kind, "MessageId": message_id, "Token": token, "TopicArn": topic_arn,
                           "Message": text, "SubscribeURL": url, "Timestamp": iso_timestamp(now_ms),
                           "SignatureVersion": version}
    doc["Signature"] = signer.sign(doc, version)
    doc["SigningCertURL"] = f"{base_url}/_tsunagi/sns/{signer.cert_name}"
    return doc


def confirmation_email(protocol: str, doc: dict[str, Any], display_name: str) -> tuple[str, str]:
    """(subject, body) of the e-mail asking an ``email``/``email-json`` subscriber to confirm."""
    subject = "AWS Notification - Subscription Confirmation"
    if protocol == "email-json":
        return subject, sns_json(doc)
    name = display_name or doc["TopicArn"].rsplit(":", 1)[-1]
    body = (f"You have chosen to subscribe to the topic: \n{doc['TopicArn']}\n\n"
            "To confirm this subscription, click or visit the link below (If this was in error no action is "
            f"necessary): \nConfirm subscription ({name}):\n{doc['SubscribeURL']}\n\n"
            "Please do not reply directly to this email. If you wish to remove yourself from receiving all future "
            "SNS subscription confirmation requests please send an email to sns-opt-out")
    return subject, body
