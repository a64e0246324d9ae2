-- SNS mobile push and SMS: platform applications and their endpoints, the account's SMS settings,
-- opted-out numbers and the SMS sandbox's destination numbers. Times are integer milliseconds.
CREATE TABLE IF NOT EXISTS sns_platform_apps (
    arn         TEXT PRIMARY KEY,          -- arn:aws:sns:<region>:<account>:app/<PLATFORM>/<name>
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    platform    TEXT NOT NULL,             -- ADM | APNS | APNS_SANDBOX | BAIDU | GCM | MPNS | WNS
    name        TEXT NOT NULL,
    attributes  TEXT NOT NULL,             -- JSON: every attribute, PlatformCredential included
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sns_platform_apps_owner ON sns_platform_apps (account, region, arn);

CREATE TABLE IF NOT EXISTS sns_platform_endpoints (
    arn         TEXT PRIMARY KEY,          -- arn:aws:sns:<region>:<account>:endpoint/<PLATFORM>/<app>/<uuid>
    app_arn     TEXT NOT NULL,
    token       TEXT NOT NULL,
    attributes  TEXT NOT NULL,             -- JSON: Enabled, Token, CustomUserData
    created_at  INTEGER NOT NULL,
    UNIQUE (app_arn, token)
);
CREATE INDEX IF NOT EXISTS sns_platform_endpoints_app ON sns_platform_endpoints (app_arn, arn);

CREATE TABLE IF NOT EXISTS sns_sms_settings (
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    attributes  TEXT NOT NULL,             -- JSON: the attributes SetSMSAttributes set
    PRIMARY KEY (account, region)
);

CREATE TABLE IF NOT EXISTS sns_sms_opt_outs (
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    phone       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (account, region, phone)
);

CREATE TABLE IF NOT EXISTS sns_sms_sandbox (
    account     TEXT NOT NULL,
    region      TEXT NOT NULL,
    phone       TEXT NOT NULL,
    status      TEXT NOT NULL,             -- Pending | Verified
    otp         TEXT NOT NULL,             -- the one-time password sent to the number
    at          INTEGER NOT NULL,          -- added, or last verified
    PRIMARY KEY (account, region, phone)
);

-- The local mailbox now holds push notifications too (kind 'push'); `tsunagi mail --kind` reads one kind.
CREATE INDEX IF NOT EXISTS sns_mail_kind ON sns_mail (kind, id);
