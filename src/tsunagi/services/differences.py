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
        "Publish": "PhoneNumber and sms deliveries go to the local mailbox (`tsunagi mail`), never to a phone; "
                   "mobile push (platform endpoints) is not available",
        "Subscribe": "an application (mobile push) endpoint answers NotFound, as no platform endpoint exists "
                     "here; a firehose subscription is accepted but each delivery to it is recorded as failed",
    },
    "s3": {
        "RestoreObject": "a restore completes when it is asked for (no retrieval time, whatever the tier); "
                         "SELECT restores are refused",
        "PutObjectAcl": "grants are stored and returned but do not grant access",
        "PutBucketAcl": "grants are stored and returned but do not grant access",
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
