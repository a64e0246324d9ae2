"""What the rest of tsunagi may ask of Lambda (implemented by ``services/awslambda/port.py``).

Callers: SNS ``lambda`` subscriptions and the outbox's ``lambda`` deliveries (S3 notifications,
destinations: ``invoke`` with ``Event``), event source mapping pollers (``invoke`` with
``RequestResponse``, ``concurrency_limit``), checks that a function exists (``function``), and the
gateway's ``/_tsunagi/lambda/code/`` route (``code``). API Gateway's Lambda integrations and ECS come next.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from tsunagi.context import RequestContext
from tsunagi.ports import PortKey
from tsunagi.ports.resources import ResourcePolicy

# An event source mapping's LastProcessingResult (written by the pollers, shown by the Lambda API).
ESM_OK = "OK"
ESM_NO_RECORDS = "No records processed"
ESM_FAILED = "PROBLEM: Function call failed"
ESM_THROTTLED = "PROBLEM: Function call failed due to throttling"
ESM_NO_FUNCTION = "PROBLEM: Function does not exist"
ESM_NO_QUEUE = "PROBLEM: Lambda could not read from the queue: it does not exist"
ESM_DENIED = "PROBLEM: Lambda could not read from the queue: the execution role is not allowed to"


class FunctionRef(Protocol):
    @property
    def arn(self) -> str:
        """The unqualified function ARN."""
        ...
    @property
    def account(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def timeout(self) -> int:
        """Timeout in seconds ($LATEST)."""
        ...
    @property
    def role(self) -> str:
        """The execution role's ARN ($LATEST)."""
        ...
    @property
    def policy(self) -> str | None:
        """The resource-based policy of the unqualified function (GetPolicy's document), or None."""
        ...
    @property
    def log_group(self) -> str:
        """The log group its invocations write to (``LoggingConfig.LogGroup``, ``/aws/lambda/<name>``)."""
        ...


class InvokeResult(NamedTuple):
    status_code: int                 # 200 RequestResponse, 202 Event, 204 DryRun
    payload: bytes
    function_error: str | None       # "Unhandled" when the function raised
    executed_version: str | None
    request_id: str


class LambdaPort(Protocol):
    async def function(self, arn_or_name: str, account: str, region: str) -> FunctionRef | None:
        """The function a name or ARN (qualified or not) names in ``account``/``region``, or None."""
        ...

    async def invoke(self, ctx: RequestContext, function: str, payload: bytes, *,
                     invocation_type: str = "RequestResponse", qualifier: str | None = None) -> InvokeResult:
        """Invoke as ``ctx``'s principal, in ``ctx``'s journey (the function sees ``_X_AMZN_TRACE_ID`` of
        ``ctx.trace_id``). Raises Invoke's ServiceErrors (``TooManyRequestsException`` when throttled,
        ``ResourceNotFoundException``, …)."""
        ...

    async def concurrency_limit(self, function: str, account: str, region: str) -> int:
        """How many invocations of the function may run at once: its reserved concurrency, else the
        account's unreserved limit (event source mappings scale up to it)."""
        ...

    async def code(self, sha: str) -> bytes | None:
        """The zip a function's ``Code.Location`` points at, or None."""
        ...

    async def resource_policy(self, ctx: RequestContext, arn: str) -> ResourcePolicy | None:
        """The function (qualified or not) ``arn`` names, its owner and its policy (the gateway's authorize step), or None."""
        ...


LAMBDA: PortKey[LambdaPort] = PortKey("lambda")
