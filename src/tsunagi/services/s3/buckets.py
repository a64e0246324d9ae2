"""Buckets: the lookup every operation starts with, create/delete/head/list, location, and the
per-bucket configurations (policy, public access block, encryption, tagging, CORS, versioning, ACL,
ownership, lifecycle…)."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from typing import Any

import orjson

from tsunagi.clock import Clock
from tsunagi.context import RequestContext
from tsunagi.services.s3 import acl, lock
from tsunagi.services.s3.bodies import Bodies
from tsunagi.services.s3.common import (
    DEFAULT_SSE,
    Bucket,
    check_bucket_name,
    dict_to_tagset,
    json_dumps,
    json_loads,
    next_string,
    owner,
    stamp,
    tagset_to_dict,
)
from tsunagi.services.s3.errors import access_denied, err, invalid_argument, malformed_xml, no_such_bucket
from tsunagi.store.s3 import BucketExists, S3Repo

# Simple configurations kept as given: config key, Put/Get member, the error when there is none.
_SIMPLE = {
    "lifecycle": ("LifecycleConfiguration", "Rules", ("NoSuchLifecycleConfiguration",
                                                     "The lifecycle configuration does not exist")),
    "website": ("WebsiteConfiguration", None, ("NoSuchWebsiteConfiguration",
                                               "The specified bucket does not have a website configuration")),
    "ownership": ("OwnershipControls", None, ("OwnershipControlsNotFoundError",
                                              "The bucket ownership controls were not found")),
}


_OWNER_TTL_S = 1.0
_CONFIG_PAGE = 100     # metrics / inventory configurations per List page
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]")


class Buckets:
    def __init__(self, repo: S3Repo, bodies: Bodies, clock: Clock,
                 changed: Callable[[Bucket | None, str], None] | None = None) -> None:
        self.repo = repo
        self.bodies = bodies
        self.clock = clock
        self.changed = changed       # told of this server's changes to a bucket (its request metrics)
        self._owners: dict[str, tuple[float, tuple[str, str | None] | None]] = {}

    async def owner_and_policy(self, name: str) -> tuple[str, str | None] | None:
        """The account that owns a bucket and its bucket policy (the gateway's authorize step asks on
        every request): kept a second, forgotten on this server when the bucket's configuration changes
        or it is deleted (another server's change takes at most that second to apply)."""
        now = time.monotonic()
        hit = self._owners.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
        row = await self.repo.bucket(name)
        found = None
        if row is not None:
            policy = json_loads(row.config).get("policy") if row.config else None
            found = (row.account, policy if isinstance(policy, str) else None)
        if len(self._owners) >= 10_000:
            self._owners.clear()
        self._owners[name] = (now + _OWNER_TTL_S, found)
        return found

    async def get(self, ctx: RequestContext, name: str | None) -> Bucket:
        """The bucket an operation names, if the caller may see it (its own, or one with a policy)."""
        if not name:
            raise no_such_bucket("")
        row = await self.repo.bucket(name)
        if row is None:
            raise no_such_bucket(name)
        b = Bucket.from_row(row)
        if b.account != ctx.account and "policy" not in b.config:
            raise access_denied()
        return b

    # == buckets ==================================================================================
    async def create_bucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("Bucket") or ""
        check_bucket_name(name)
        conf = params.get("CreateBucketConfiguration") or {}
        constraint = conf.get("LocationConstraint")
        region = ctx.region
        if constraint:
            if (constraint == "us-east-1" and region == "us-east-1") or not (
                    constraint == "EU" or _REGION.fullmatch(constraint)):
                raise err("InvalidLocationConstraint", "The specified location-constraint is not valid", 400,
                          LocationConstraint=constraint)
            if region == "us-east-1" and constraint != "EU":
                region = constraint    # the N. Virginia endpoint creates a bucket in any region it is told
            elif constraint != region and constraint != "EU":
                raise err("IllegalLocationConstraintException",
                          f"The {constraint} location constraint is incompatible for the region specific "
                          "endpoint this request was sent to.", 400)
        elif region != "us-east-1":
            raise err("IllegalLocationConstraintException", "The unspecified location constraint is incompatible "
                      "for the region specific endpoint this request was sent to.", 400)
        config: dict[str, Any] = {}
        if params.get("ObjectOwnership"):
            config["ownership"] = {"Rules": [{"ObjectOwnership": params["ObjectOwnership"]}]}
        if params.get("ObjectLockEnabledForBucket"):
            config["object_lock"] = True
        grants = acl.from_headers(params, ctx.account, ctx.account, bucket=True)
        if grants is not None:
            acl.check_ownership(config, grants, ctx.account)
            config["acl"] = grants
        try:
            await self.repo.create_bucket(name, ctx.account, region, stamp(self.clock), json_dumps(config))
            self._owners.pop(name, None)
            if self.changed is not None:
                self.changed(None, name)
        except BucketExists:
            row = await self.repo.bucket(name)
            if row is not None and row.account == ctx.account:
                if region == "us-east-1" and row.region == "us-east-1":
                    return {"Location": f"/{name}"}      # AWS's legacy answer in N. Virginia
                raise err("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket "
                          "succeeded and you already own it.", 409, BucketName=name) from None
            raise err("BucketAlreadyExists", "The requested bucket name is not available. The bucket namespace "
                      "is shared by all users of the system. Please select a different name and try again.", 409,
                      BucketName=name) from None
        if params.get("ObjectLockEnabledForBucket"):
            await self.repo.set_versioning(name, "Enabled")
        return {"Location": f"/{name}"}

    async def delete_bucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        if not await self.repo.bucket_is_empty(b.name):
            raise err("BucketNotEmpty", "The bucket you tried to delete is not empty", 409, BucketName=b.name)
        freed = await self.repo.delete_bucket(b.name)
        self._owners.pop(b.name, None)
        if self.changed is not None:
            self.changed(None, b.name)
        self.bodies.free_later(freed)
        return {}

    async def head_bucket(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        return {"BucketRegion": b.region, "AccessPointAlias": False}

    async def list_buckets(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = int(params.get("MaxBuckets") or 10_000)
        if not 1 <= limit <= 10_000:
            raise invalid_argument("max-buckets must be between 1 and 10000", "max-buckets", limit)
        after = ""
        if params.get("ContinuationToken"):
            try:
                after = base64.urlsafe_b64decode(params["ContinuationToken"].encode()).decode()
            except Exception:
                raise invalid_argument("The continuation token provided is incorrect", "continuation-token",
                                       params["ContinuationToken"]) from None
        prefix = params.get("Prefix") or ""
        region = params.get("BucketRegion")
        rows = await self.repo.buckets(ctx.account, after, prefix, next_string(prefix) if prefix else None,
                                       limit + 1)
        buckets = [Bucket.from_row(r) for r in rows]
        if region:
            buckets = [b for b in buckets if b.region == region]
        out: dict[str, Any] = {
            "Buckets": [{"Name": b.name, "CreationDate": b.created_at, "BucketRegion": b.region}
                        for b in buckets[:limit]],
            "Owner": owner(ctx.account),
        }
        if prefix:
            out["Prefix"] = prefix
        if len(buckets) > limit:
            out["ContinuationToken"] = base64.urlsafe_b64encode(buckets[limit - 1].name.encode()).decode()
        return out

    async def get_bucket_location(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        return {"LocationConstraint": None if b.region == "us-east-1" else b.region}

    # -- configuration storage --------------------------------------------------------------------
    async def _save_config(self, b: Bucket) -> None:
        await self.repo.set_bucket_config(b.name, json_dumps(b.config))
        self._owners.pop(b.name, None)
        if self.changed is not None:
            self.changed(b, b.name)

    async def _set(self, ctx: RequestContext, params: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        if value is None:
            b.config.pop(key, None)
        else:
            b.config[key] = value
        await self._save_config(b)
        return {}

    async def _get(self, ctx: RequestContext, params: dict[str, Any], key: str, missing: tuple[str, str]) -> Any:
        b = await self.get(ctx, params.get("Bucket"))
        if key not in b.config:
            raise err(missing[0], missing[1], 404, BucketName=b.name)
        return b.config[key]

    # policy
    async def put_bucket_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("Policy") or ""
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict) or not text.lstrip().startswith("{"):
            raise err("MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'", 400)
        if not isinstance(doc.get("Statement"), list | dict) or not doc.get("Statement"):
            raise err("MalformedPolicy", "Missing required field Statement", 400)
        return await self._set(ctx, params, "policy", text)

    async def get_bucket_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"Policy": await self._get(ctx, params, "policy", ("NoSuchBucketPolicy",
                                                                   "The bucket policy does not exist"))}

    async def delete_bucket_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "policy", None)

    async def get_bucket_policy_status(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        if "policy" not in b.config:
            raise err("NoSuchBucketPolicy", "The bucket policy does not exist", 404, BucketName=b.name)
        public = '"*"' in b.config["policy"] and '"Allow"' in b.config["policy"]
        return {"PolicyStatus": {"IsPublic": public}}

    # public access block
    async def put_public_access_block(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        conf = params.get("PublicAccessBlockConfiguration") or {}
        if not conf:
            raise invalid_request_pab()
        value = {k: bool(conf.get(k, False)) for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                                       "RestrictPublicBuckets")}
        return await self._set(ctx, params, "public_access_block", value)

    async def get_public_access_block(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        conf = await self._get(ctx, params, "public_access_block", (
            "NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found"))
        return {"PublicAccessBlockConfiguration": conf}

    async def delete_public_access_block(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "public_access_block", None)

    # encryption
    async def put_bucket_encryption(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        conf = params.get("ServerSideEncryptionConfiguration") or {}
        rules = conf.get("Rules") or []
        if len(rules) != 1:
            raise malformed_xml()
        default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
        algo = default.get("SSEAlgorithm")
        if algo not in ("AES256", "aws:kms", "aws:kms:dsse"):
            raise malformed_xml()
        if algo == "AES256" and default.get("KMSMasterKeyID"):
            raise invalid_argument("a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms "
                                   "or aws:kms:dsse", "ApplyServerSideEncryptionByDefault")
        rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": {k: v for k, v in default.items() if v}}
        rule["BucketKeyEnabled"] = bool(rules[0].get("BucketKeyEnabled", False))
        return await self._set(ctx, params, "encryption", {"Rules": [rule]})

    async def get_bucket_encryption(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        conf = b.config.get("encryption") or {
            "Rules": [{"ApplyServerSideEncryptionByDefault": dict(DEFAULT_SSE), "BucketKeyEnabled": False}]}
        return {"ServerSideEncryptionConfiguration": conf}

    async def delete_bucket_encryption(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "encryption", None)

    # tagging
    async def put_bucket_tagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        tagging = params.get("Tagging") or {}
        if tagging.get("TagSet") is None:
            raise malformed_xml()
        tags = tagset_to_dict(tagging["TagSet"], object_tags=False)
        return await self._set(ctx, params, "tags", tags or None)    # an empty tag set deletes the tags

    async def get_bucket_tagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        tags = await self._get(ctx, params, "tags", ("NoSuchTagSet", "The TagSet does not exist"))
        return {"TagSet": dict_to_tagset(tags)}

    async def delete_bucket_tagging(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "tags", None)

    # CORS
    async def put_bucket_cors(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rules = (params.get("CORSConfiguration") or {}).get("CORSRules") or []
        if not rules or len(rules) > 100:
            raise malformed_xml()
        for rule in rules:
            if not rule.get("AllowedMethods") or not rule.get("AllowedOrigins"):
                raise malformed_xml()
            for m in rule["AllowedMethods"]:
                if m not in ("GET", "PUT", "POST", "DELETE", "HEAD"):
                    raise err("InvalidRequest", f"Found unsupported HTTP method in CORS config. Unsupported "
                              f"method is {m}", 400)
        return await self._set(ctx, params, "cors", rules)

    async def get_bucket_cors(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rules = await self._get(ctx, params, "cors", ("NoSuchCORSConfiguration",
                                                      "The CORS configuration does not exist"))
        return {"CORSRules": rules}

    async def delete_bucket_cors(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "cors", None)

    # versioning
    async def put_bucket_versioning(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        status = (params.get("VersioningConfiguration") or {}).get("Status")
        if status not in ("Enabled", "Suspended"):
            raise malformed_xml()
        if status == "Suspended" and b.config.get("object_lock"):
            raise err("InvalidBucketState", "An Object Lock configuration is present on this bucket, so the "
                      "versioning state cannot be changed.", 409)
        await self.repo.set_versioning(b.name, status)
        return {}

    async def get_bucket_versioning(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        return {"Status": b.versioning} if b.versioning else {}

    # ACLs: kept and returned (access is decided by policies)
    async def get_bucket_acl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        return acl.policy(b.config.get("acl"), b.account)

    async def put_bucket_acl(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        b.config["acl"] = acl.requested(params, b.config, b.account, bucket=True)
        await self._save_config(b)
        return {}

    # transfer acceleration (there is no faster endpoint here: the setting is kept and returned)
    async def put_bucket_accelerate_configuration(self, ctx: RequestContext, params: dict[str, Any]
                                                  ) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        status = (params.get("AccelerateConfiguration") or {}).get("Status")
        if status not in ("Enabled", "Suspended"):
            raise malformed_xml()
        if "." in b.name:
            raise err("InvalidRequest", "S3 Transfer Acceleration is not supported for buckets with periods (.) in "
                      "their names", 400)
        b.config["accelerate"] = status
        await self._save_config(b)
        return {}

    async def get_bucket_accelerate_configuration(self, ctx: RequestContext, params: dict[str, Any]
                                                  ) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        return {"Status": b.config["accelerate"]} if "accelerate" in b.config else {}

    # metrics and inventory configurations: kept by Id and returned as given
    async def _put_by_id(self, ctx: RequestContext, params: dict[str, Any], kind: str, member: str
                         ) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        conf = params.get(member)
        if not conf or not conf.get("Id"):
            raise malformed_xml()
        stored = dict(b.config.get(kind) or {})
        stored[str(params.get("Id"))] = conf
        b.config[kind] = stored
        await self._save_config(b)
        return {}

    async def _get_by_id(self, ctx: RequestContext, params: dict[str, Any], kind: str) -> Any:
        b = await self.get(ctx, params.get("Bucket"))
        found = (b.config.get(kind) or {}).get(str(params.get("Id")))
        if found is None:
            raise err("NoSuchConfiguration", "The specified configuration does not exist.", 404)
        return found

    async def _delete_by_id(self, ctx: RequestContext, params: dict[str, Any], kind: str) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        stored = dict(b.config.get(kind) or {})
        if stored.pop(str(params.get("Id")), None) is None:
            raise err("NoSuchConfiguration", "The specified configuration does not exist.", 404)
        b.config[kind] = stored
        await self._save_config(b)
        return {}

    async def _list_by_id(self, ctx: RequestContext, params: dict[str, Any], kind: str, member: str
                          ) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        stored = b.config.get(kind) or {}
        after = params.get("ContinuationToken") or ""
        ids = sorted(i for i in stored if i > after)
        out: dict[str, Any] = {"IsTruncated": len(ids) > _CONFIG_PAGE}
        if params.get("ContinuationToken"):
            out["ContinuationToken"] = params["ContinuationToken"]
        if ids:
            out[member] = [stored[i] for i in ids[:_CONFIG_PAGE]]
        if len(ids) > _CONFIG_PAGE:
            out["NextContinuationToken"] = ids[_CONFIG_PAGE - 1]
        return out

    async def put_bucket_metrics_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._put_by_id(ctx, params, "metrics", "MetricsConfiguration")

    async def get_bucket_metrics_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"MetricsConfiguration": await self._get_by_id(ctx, params, "metrics")}

    async def delete_bucket_metrics_configuration(self, ctx: RequestContext, params: dict[str, Any]
                                                  ) -> dict[str, Any]:
        return await self._delete_by_id(ctx, params, "metrics")

    async def list_bucket_metrics_configurations(self, ctx: RequestContext, params: dict[str, Any]
                                                 ) -> dict[str, Any]:
        return await self._list_by_id(ctx, params, "metrics", "MetricsConfigurationList")

    async def put_bucket_inventory_configuration(self, ctx: RequestContext, params: dict[str, Any]
                                                 ) -> dict[str, Any]:
        return await self._put_by_id(ctx, params, "inventory", "InventoryConfiguration")

    async def get_bucket_inventory_configuration(self, ctx: RequestContext, params: dict[str, Any]
                                                 ) -> dict[str, Any]:
        return {"InventoryConfiguration": await self._get_by_id(ctx, params, "inventory")}

    async def delete_bucket_inventory_configuration(self, ctx: RequestContext, params: dict[str, Any]
                                                    ) -> dict[str, Any]:
        return await self._delete_by_id(ctx, params, "inventory")

    async def list_bucket_inventory_configurations(self, ctx: RequestContext, params: dict[str, Any]
                                                   ) -> dict[str, Any]:
        return await self._list_by_id(ctx, params, "inventory", "InventoryConfigurationList")

    # object lock
    async def put_object_lock_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        rule = lock.check_rule(params.get("ObjectLockConfiguration") or {})
        if not b.config.get("object_lock") and b.versioning != "Enabled":
            raise err("InvalidBucketState", "Versioning must be 'Enabled' on the bucket to apply a Object Lock "
                      "configuration", 409)
        b.config["object_lock"] = True
        if rule is None:
            b.config.pop("lock_rule", None)
        else:
            b.config["lock_rule"] = rule
        await self._save_config(b)
        return {}

    async def get_object_lock_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        b = await self.get(ctx, params.get("Bucket"))
        if not b.config.get("object_lock"):
            raise err("ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this "
                      "bucket", 404, BucketName=b.name)
        conf: dict[str, Any] = {"ObjectLockEnabled": "Enabled"}
        if b.config.get("lock_rule"):
            conf["Rule"] = b.config["lock_rule"]
        return {"ObjectLockConfiguration": conf}

    # lifecycle, website, ownership: kept and returned as given
    async def put_bucket_lifecycle_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rules = (params.get("LifecycleConfiguration") or {}).get("Rules")
        if not rules:
            raise malformed_xml()
        return await self._set(ctx, params, "lifecycle", {"Rules": rules})

    async def get_bucket_lifecycle_configuration(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._get(ctx, params, "lifecycle", _SIMPLE["lifecycle"][2]))

    async def delete_bucket_lifecycle(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "lifecycle", None)

    async def put_bucket_website(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "website", params.get("WebsiteConfiguration") or {})

    async def get_bucket_website(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._get(ctx, params, "website", _SIMPLE["website"][2]))

    async def delete_bucket_website(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "website", None)

    async def put_bucket_ownership_controls(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "ownership", params.get("OwnershipControls") or {})

    async def get_bucket_ownership_controls(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"OwnershipControls": await self._get(ctx, params, "ownership", _SIMPLE["ownership"][2])}

    async def delete_bucket_ownership_controls(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._set(ctx, params, "ownership", None)


def invalid_request_pab() -> Exception:
    return err("InvalidRequest", "Must specify at least one configuration.", 400)

