"""Where a built operation is known to answer otherwise than AWS does, said once, here.

docs/SERVICES.md lists each operation as built, built with the known differences below, or refused
(``scripts/gen_reference.py`` reads this table; a unit test checks that every operation named here is
one the service builds, so the list cannot outlive the code). An entry is a behaviour a user could
rely on and would find different, not a note on how tsunagi works inside.
"""

from __future__ import annotations

KNOWN_DIFFERENCES: dict[str, dict[str, str]] = {
    "sqs": {},
    "sns": {
        "Publish": "texts (PhoneNumber, sms subscriptions) and push notifications (platform endpoints, application "
                   "subscriptions) go to the local mailbox (`tsunagi mail --kind sms`, `--kind push`), never to a phone; "
                   "a text to an opted-out number is dropped without a delivery record; with no platform key in "
                   "a json message, Baidu gets {\"title\",\"description\"} and MPNS/WNS the plain text; "
                   "in the SMS sandbox a text to an unverified number is refused with AuthorizationError",
        "Subscribe": "a firehose subscription is accepted but each delivery to it is recorded as failed; "
                     "an sms subscription's texts to an opted-out number are recorded as failed; the SMS sandbox "
                     "does not limit sms subscriptions",
        "CreatePlatformApplication": "credentials are stored but not checked with the push service (it cannot be "
                                     "reached): only their presence is required; the same name and platform "
                                     "again answers the existing ARN when the attributes match",
        "SetPlatformApplicationAttributes": "Enabled may be set (AWS disables an application itself when its "
                                            "credentials expire): false makes Publish answer "
                                            "PlatformApplicationDisabled; EventDeliveryFailure hears only of topic "
                                            "notifications to a disabled endpoint or application (no push service "
                                            "reports failures here)",
        "GetSMSSandboxAccountStatus": "an account is out of the sandbox unless the server runs with "
                                      "TSUNAGI_SNS_SMS_SANDBOX=1 (on AWS a new account is in it)",
        "ListPhoneNumbersOptedOut": "a number opts out when it answers STOP through POST /_tsunagi/sns/sms-reply",
        "OptInPhoneNumber": "a number may be opted in again at any time (AWS allows once in 30 days)",
        "DeleteSMSSandboxPhoneNumber": "a number may be deleted at once (AWS waits 24 hours after its verification)",
        "CreateSMSSandboxPhoneNumber": "the one-time password goes to the local mailbox (`tsunagi mail --kind sms`)",
    },
    "s3": {
        "RestoreObject": "a restore completes when it is asked for (no retrieval time, whatever the tier); "
                         "SELECT restores are refused",
        "PutObjectAcl": "grants are stored and returned but do not grant access",
        "PutBucketAcl": "grants are stored and returned but do not grant access",
        "PutBucketMetricsConfiguration": "AWS/S3 request metrics are published for it; a filter's AccessPointArn "
                                         "matches no request (tsunagi serves no access points), a Tag filter "
                                         "matches the object's tags once the request is answered (a deleted "
                                         "object's requests do not count), and FirstByteLatency includes "
                                         "receiving an upload's body",
    },
    "lambda": {
        "CreateFunction": "functions run natively (Python and Node.js runtimes); PackageType Image is refused "
                          "with AWS's answer for an image it cannot find (tsunagi has no container registry)",
    },
    "logs": {
        "StartQuery": "count_distinct is exact (AWS estimates it) and pct takes the nearest rank; the SQL "
                      "and PPL query languages are refused",
        "PutSubscriptionFilter": "only Lambda functions receive: Kinesis, Firehose and Logs destinations are "
                                 "refused",
        "PutDataProtectionPolicy": "stored and returned; nothing is masked",
        "AssociateKmsKey": "the key is recorded; events are not encrypted with it",
    },
    "cloudwatch": {
        "PutMetricAlarm": "alarm actions other than SNS topics, and anomaly-detection thresholds, are refused",
        "GetMetricData": "metric math covers the common functions; others answer a ValidationError",
    },
}
