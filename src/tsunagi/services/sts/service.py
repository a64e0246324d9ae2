"""STS: who am I, and temporary credentials.

* GetCallerIdentity answers the actual caller: the IAM user whose access key signed the request, the
  assumed-role session of temporary credentials (``arn:aws:sts::…:assumed-role/R/S``), or the account's
  root. The key's owner is asked of IAM (its port), so this holds under ``--auth open`` too.
* AssumeRole: the role must exist; its trust policy is evaluated with the policy evaluator against the
  caller (and, when the trust policy only names the caller's account, the caller's identity policies).
  ``--policies enforce`` refuses a call the trust policy does not allow with AccessDenied; ``warn`` (the
  default) logs one line saying why and goes on; ``off`` does not look. Session durations are bounded as
  AWS bounds them (900 s up to the role's MaxSessionDuration; one hour for role chaining).
* AssumeRoleWithWebIdentity takes a stored token: any JWT-shaped token (its signature is not checked:
  there is no identity provider to ask); the subject, issuer and audience come from it.
* GetSessionToken: temporary credentials that act as the user (or root) that asked.
* GetAccessKeyInfo: the account an access key id carries.

Temporary credentials (``ASIA…`` with a session token and an expiry) are issued and kept by IAM
(``IamPort.issue_session``): strict SigV4 reads them back from there.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from typing import Any

from tsunagi.ids import account_of_access_key
from tsunagi.policy import Caller, CallerType, PolicyError, PolicyKind, Request, compile_policy, evaluate
from tsunagi.ports.iam import IAM, Credentials, IamPort
from tsunagi.ports.sts import STS, CallerIdentity
from tsunagi.protocol.errors import AccessDenied, ServiceError, ValidationError, error_class
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.services.sts.port import StsPortImpl

log = logging.getLogger("tsunagi.sts")

ExpiredToken = error_class("ExpiredToken", status=403)
ExpiredTokenException = error_class("ExpiredTokenException")
InvalidIdentityToken = error_class("InvalidIdentityToken")
MalformedPolicyDocument = error_class("MalformedPolicyDocument")
PackedPolicyTooLarge = error_class("PackedPolicyTooLarge")

_IAM_KEY_PREFIXES = ("AKIA", "ASIA")      # long-term and temporary access keys IAM makes (tsunagi.ids)
DEFAULT_DURATION = 3600
CHAINED_MAX = 3600
SESSION_TOKEN_DEFAULT = 43_200
ROOT_SESSION_MAX = 3600
SESSION_POLICY_MAX = 2048
# identity providers whose condition keys are their host name, not an oidc-provider ARN
_WELL_KNOWN_IDPS = frozenset({"accounts.google.com", "graph.facebook.com", "www.amazon.com",
                              "cognito-identity.amazonaws.com"})


def _iso(ms: int) -> float:
    return ms / 1000.0


def _b64url_json(part: str) -> Any:
    raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    return json.loads(raw)


class StsService(Service):
    name = "sts"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        platform.ports.provide(STS, StsPortImpl(self))
        self._iam_port: IamPort | None = None       # IAM's port, once found (GetCallerIdentity)

    # == who is calling ========================================================================
    @property
    def _iam(self) -> IamPort | None:
        return self.platform.ports.find(IAM)

    async def _credentials(self, ctx: RequestContext) -> Credentials | None:
        key_id = ctx.access_key_id
        iam = self._iam
        if not key_id or iam is None:
            return None
        creds = await iam.credentials(key_id)
        if creds is not None and creds.session_token is None:
            await iam.key_used(key_id, "sts", ctx.region)
        return creds

    async def identity(self, ctx: RequestContext) -> CallerIdentity:
        """Who ``ctx``'s caller is: the owner of the access key it signed with, when IAM knows the key;
        else the principal the gateway authenticated (the account's root under ``--auth open``)."""
        creds = await self._credentials(ctx)
        if creds is not None:
            if creds.expires_at_ms is not None and creds.expires_at_ms <= self.clock.now_ms():
                raise ExpiredToken("The security token included in the request is expired")
            return CallerIdentity(creds.account, creds.principal_arn, creds.user_id)
        arn = ctx.principal_arn
        user_id = ctx.account if arn.endswith(":root") else (ctx.access_key_id or ctx.account)
        return CallerIdentity(ctx.account, arn, user_id)

    async def get_caller_identity(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        # identity() inlined (every SDK asks this at start, some before each call): one coroutine, not four
        principal = ctx.principal
        key_id = principal.access_key_id if principal is not None else None
        # only a key IAM made (AKIA…, ASIA…) can be one it knows: the local convention's keys (test, a
        # 12-digit account id) are answered without asking it
        iam_key = key_id is not None and key_id.startswith(_IAM_KEY_PREFIXES)
        iam = self._iam_port
        if iam is None and iam_key:
            iam = self.platform.ports.find(IAM)
            if "iam" not in self.platform.starting:     # not the stand-in that waits for IAM's start: keep it
                self._iam_port = iam
        if iam_key and iam is not None:
            assert key_id is not None
            creds = await iam.credentials(key_id)
            if creds is not None:
                if creds.session_token is None:
                    await iam.key_used(key_id, "sts", ctx.region)
                if creds.expires_at_ms is not None and creds.expires_at_ms <= self.clock.now_ms():
                    raise ExpiredToken("The security token included in the request is expired")
                return {"UserId": creds.user_id, "Account": creds.account, "Arn": creds.principal_arn}
        arn = principal.arn if principal is not None else f"arn:aws:iam::{ctx.account}:root"
        user_id = ctx.account if arn.endswith(":root") else (key_id or ctx.account)
        return {"UserId": user_id, "Account": ctx.account, "Arn": arn}

    async def get_access_key_info(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key_id: str = params["AccessKeyId"]
        iam = self._iam
        creds = await iam.credentials(key_id) if iam is not None else None
        account = creds.account if creds is not None else account_of_access_key(key_id)
        if account is None:
            if len(key_id) == 12 and key_id.isdigit():
                account = key_id
            else:
                raise ValidationError(f"The access key ID {key_id} is not valid.")
        return {"Account": account}

    # == policies ==============================================================================
    def _decide(self, request: Request, trust_text: str, role_arn: str, identity: list[str],
                session: str | None, refusal: str, boundary: str | None = None) -> None:
        """Evaluate the role's trust policy; under ``enforce`` a refusal raises AccessDenied, under
        ``warn`` it is logged and the call goes on."""
        mode = self.platform.config.policies
        if mode == "off":
            return
        trust = compile_policy(trust_text, PolicyKind.TRUST, label=f"the trust policy of {role_arn}")
        policies = []
        for i, text in enumerate(identity):
            try:
                policies.append(compile_policy(text, PolicyKind.IDENTITY, label=f"identity policy #{i + 1}"))
            except PolicyError:
                continue
        session_policies = None
        if session:
            try:
                session_policies = compile_policy(session, PolicyKind.IDENTITY, label="the session policy")
            except PolicyError:
                session_policies = None
        boundary_policy = None
        if boundary:
            try:
                boundary_policy = compile_policy(boundary, PolicyKind.IDENTITY, label="the permissions boundary")
            except PolicyError:
                boundary_policy = None
        decision = evaluate(request, identity=policies, resource=trust, session=session_policies,
                            boundary=boundary_policy)
        if decision.allowed:
            return
        if mode == "enforce":
            log.info("policy: %s refused: %s", request.action, decision.reason)
            raise AccessDenied(refusal)
        log.warning("policy (warn): %s by %s on %s would be denied: %s", request.action,
                    request.caller.describe(), role_arn, decision.reason)

    @staticmethod
    def _session_policy(params: dict[str, Any]) -> str | None:
        policy: str | None = params.get("Policy")
        if policy is None:
            return None
        try:
            compile_policy(policy, PolicyKind.IDENTITY)
        except PolicyError as e:
            raise MalformedPolicyDocument(e.message) from None
        except RecursionError:
            raise MalformedPolicyDocument("Syntax errors in policy.") from None
        size = sum(1 for c in policy if not c.isspace())
        if size > SESSION_POLICY_MAX:
            raise PackedPolicyTooLarge("Packed policy consumes "
                                       f"{size * 100 // SESSION_POLICY_MAX}% of allotted space, please use smaller "
                                       "policy for this request.")
        return policy

    def _need_iam(self) -> IamPort:
        iam = self._iam
        if iam is None:
            raise ServiceError("IAM is not served by this tsunagi server, so STS cannot issue credentials.",
                               code="NotImplemented", status=501)
        return iam

    @staticmethod
    def _caller(arn: str, creds: Credentials | None) -> Caller:
        if creds is not None and creds.role_arn is not None and ":assumed-role/" in arn:
            return Caller.session(arn, creds.role_arn)        # the role's ARN with its path
        try:
            return Caller.from_arn(arn)
        except ValueError:
            return Caller.anonymous()

    @staticmethod
    def _credentials_out(creds: Credentials) -> dict[str, Any]:
        assert creds.expires_at_ms is not None
        return {"AccessKeyId": creds.access_key_id, "SecretAccessKey": creds.secret_access_key,
                "SessionToken": creds.session_token, "Expiration": _iso(creds.expires_at_ms)}

    # == AssumeRole ============================================================================
    async def assume_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        iam = self._need_iam()
        who = await self.identity(ctx)
        role_arn: str = params["RoleArn"]
        session_name: str = params["RoleSessionName"]
        refusal = f"User: {who.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        role = await iam.role(role_arn)
        if role is None:
            raise AccessDenied(refusal)
        chained = ":assumed-role/" in who.arn
        duration = params.get("DurationSeconds")
        if duration is not None and chained and duration > CHAINED_MAX:
            raise ValidationError("The requested DurationSeconds exceeds the 1 hour session limit for roles "
                                  "assumed by role chaining.")
        if duration is not None and duration > role.max_session_seconds:
            raise ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        session_policy = self._session_policy(params)
        creds_of_caller = await self._credentials(ctx)
        caller = self._caller(who.arn, creds_of_caller)
        context: dict[str, Any] = {"sts:RoleSessionName": session_name}
        if params.get("ExternalId") is not None:
            context["sts:ExternalId"] = params["ExternalId"]
        if params.get("SourceIdentity") is not None:
            context["sts:SourceIdentity"] = params["SourceIdentity"]
        request = Request(caller, "sts:AssumeRole", role.arn, resource_account=role.account, context=context,
                          now=self.clock.now(), source_ip=ctx.source_ip)
        identity: list[str] = []
        boundary: str | None = None
        if caller.type in (CallerType.USER, CallerType.ROLE_SESSION):
            identity = [doc for _, doc in await iam.identity_policies(who.arn)]
            boundary = await iam.permissions_boundary(who.arn)
        self._decide(request, role.trust_policy, role.arn, identity,
                     creds_of_caller.session_policy if creds_of_caller is not None else None, refusal, boundary)
        session_arn = f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{session_name}"
        assumed_id = f"{role.role_id}:{session_name}"
        creds = await iam.issue_session(account=role.account, principal_arn=session_arn, user_id=assumed_id,
                                        duration_s=int(duration or DEFAULT_DURATION), role_arn=role.arn,
                                        source_key=ctx.access_key_id, region=ctx.region,
                                        session_policy=session_policy)
        out: dict[str, Any] = {"Credentials": self._credentials_out(creds),
                               "AssumedRoleUser": {"AssumedRoleId": assumed_id, "Arn": session_arn}}
        if session_policy is not None:
            out["PackedPolicySize"] = sum(1 for c in session_policy if not c.isspace()) * 100 // SESSION_POLICY_MAX
        if params.get("SourceIdentity") is not None:
            out["SourceIdentity"] = params["SourceIdentity"]
        return out

    # == AssumeRoleWithWebIdentity =============================================================
    def _claims(self, token: str) -> dict[str, Any]:
        parts = token.split(".")
        invalid = InvalidIdentityToken("The ID Token provided is not a valid JWT. (You may see this error if you "
                                       "sent an Access Token)")
        if len(parts) != 3:
            raise invalid
        try:
            header, claims = _b64url_json(parts[0]), _b64url_json(parts[1])
        except (binascii.Error, ValueError):
            raise invalid from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise invalid
        if not isinstance(claims.get("iss"), str) or not isinstance(claims.get("sub"), str):
            raise InvalidIdentityToken("The ID Token provided has no issuer (iss) or no subject (sub) claim.")
        exp = claims.get("exp")
        now = self.clock.now()
        if isinstance(exp, int | float) and not isinstance(exp, bool) and exp <= now:
            stamp = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(now))
            try:
                expiry = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(exp))
            except (OverflowError, OSError, ValueError):
                expiry = str(exp)
            raise ExpiredTokenException(f"Token expired: current date/time {stamp} must be before the expiration "
                                        f"date/time {expiry}")
        return claims

    async def assume_role_with_web_identity(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        iam = self._need_iam()
        claims = self._claims(params["WebIdentityToken"])
        role_arn: str = params["RoleArn"]
        session_name: str = params["RoleSessionName"]
        refusal = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
        role = await iam.role(role_arn)
        if role is None:
            raise AccessDenied(refusal)
        duration = params.get("DurationSeconds")
        if duration is not None and duration > role.max_session_seconds:
            raise ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        session_policy = self._session_policy(params)
        issuer: str = claims["iss"]
        host = issuer.split("://", 1)[-1].rstrip("/")
        provider = host if host in _WELL_KNOWN_IDPS else f"arn:aws:iam::{role.account}:oidc-provider/{host}"
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else ([audience] if audience is not None else [])
        context: dict[str, Any] = {f"{host}:sub": claims["sub"], "sts:RoleSessionName": session_name}
        if audiences:
            context[f"{host}:aud"] = [str(a) for a in audiences]
            context[f"{host}:oaud"] = [str(a) for a in audiences]
        caller = Caller(CallerType.ANONYMOUS, federated_provider=provider)
        request = Request(caller, "sts:AssumeRoleWithWebIdentity", role.arn, resource_account=role.account,
                          context=context, now=self.clock.now(), source_ip=ctx.source_ip)
        self._decide(request, role.trust_policy, role.arn, [], None, refusal)
        session_arn = f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{session_name}"
        assumed_id = f"{role.role_id}:{session_name}"
        creds = await iam.issue_session(account=role.account, principal_arn=session_arn, user_id=assumed_id,
                                        duration_s=int(duration or DEFAULT_DURATION), role_arn=role.arn,
                                        region=ctx.region, session_policy=session_policy)
        out: dict[str, Any] = {"Credentials": self._credentials_out(creds),
                               "SubjectFromWebIdentityToken": claims["sub"],
                               "AssumedRoleUser": {"AssumedRoleId": assumed_id, "Arn": session_arn},
                               "Provider": host}
        if audiences:
            out["Audience"] = str(audiences[0])
        if session_policy is not None:
            out["PackedPolicySize"] = sum(1 for c in session_policy if not c.isspace()) * 100 // SESSION_POLICY_MAX
        return out

    # == GetSessionToken =======================================================================
    async def get_session_token(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        iam = self._need_iam()
        who = await self.identity(ctx)
        creds = await self._credentials(ctx)
        if (creds is not None and creds.session_token is not None) or ":assumed-role/" in who.arn:
            raise AccessDenied("Cannot call GetSessionToken with session credentials")
        duration = int(params.get("DurationSeconds") or SESSION_TOKEN_DEFAULT)
        if who.arn.endswith(":root"):
            duration = min(duration, ROOT_SESSION_MAX)      # the root user's sessions last an hour at most
        issued = await iam.issue_session(account=who.account, principal_arn=who.arn, user_id=who.user_id,
                                         duration_s=duration, source_key=ctx.access_key_id, region=ctx.region)
        return {"Credentials": self._credentials_out(issued)}
