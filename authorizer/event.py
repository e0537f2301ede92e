"""The input API Gateway sends an authorizer function, as a typed model.

Single-argument: ``{"type": "TOKEN", "token": "<Authorization header value>"}``
Multi-argument:  ``{"type": "USER_DEFINED", "data": {"token": ..., ...}}``

In multi-argument mode a repeated header arrives as a JSON array and a header
missing from the request is simply absent. The ``path`` argument, when sent,
is checked here by the one path rule (``oic_gateway.access.paths``), so
nothing downstream sees an unchecked path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from oic_gateway.access.paths import IntegrationPath, integration_path
from oic_gateway.errors import BadPath, InvalidRequest
from oic_gateway.verification.bearer import bearer_token
from oic_gateway.verification.encoding import DecodeError, strict_json_object

# The gateway limits a request's headers to 8 KB; the body it builds is small.
MAX_BODY_BYTES = 64 * 1024
TOKEN_ARGUMENT = "token"
PATH_ARGUMENT = "path"
METHOD_ARGUMENT = "method"


@dataclass(frozen=True)
class AuthorizerRequest:
    token: str  # the bare JWT, scheme removed
    arguments: dict[str, str] = field(default_factory=dict)  # the other multi-argument values
    path: IntegrationPath | None = None  # the checked 'path' argument, when the gateway sent one

    @property
    def method(self) -> str | None:
        return self.arguments.get(METHOD_ARGUMENT)


def parse_request(body: bytes) -> AuthorizerRequest:
    """Parse and check the gateway's input. Raises ``TokenRejected`` subclasses."""
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequest("request body too large")
    if not body.strip():
        raise InvalidRequest("empty request body")
    try:
        event = strict_json_object(body, max_depth=4)
    except DecodeError as exc:
        raise InvalidRequest(f"request body: {exc}") from None
    kind = event.get("type")
    arguments: dict[str, str] = {}
    if kind == "TOKEN":
        header = event.get("token")
    elif kind == "USER_DEFINED":
        data = event.get("data")
        if not isinstance(data, dict):
            raise InvalidRequest("USER_DEFINED request without a 'data' object")
        header = data.get(TOKEN_ARGUMENT)
        for name, value in data.items():
            if name != TOKEN_ARGUMENT and isinstance(value, str):
                arguments[name] = value
        raw_path = data.get(PATH_ARGUMENT)
        if raw_path is not None and not isinstance(raw_path, str):
            raise BadPath("the 'path' argument is not one string")
    else:
        raise InvalidRequest("request 'type' is neither TOKEN nor USER_DEFINED")
    token = bearer_token(header)
    path = integration_path(arguments[PATH_ARGUMENT]) if PATH_ARGUMENT in arguments else None
    return AuthorizerRequest(token=token, arguments=arguments, path=path)
