"""What callers see for each error family: the one table.

The errors (``oic_gateway.errors``) say what happened; this module says what
each function answers for it, so the decision lives in one place:

* the backend function: the HTTP status, the JSON ``error`` code, and
  whether a ``WWW-Authenticate`` challenge goes with it;
* the authorizer: deny (HTTP 200 ``{"active": false}`` with the challenge,
  and API Gateway answers 401), cannot decide (the handler raises and fdk
  answers 502), or a defect (denied as ``internal_error``: a bug must not
  let anything through, nor turn a bad request into a 502).

An error is looked up by its nearest listed class. The root is not listed, so
a new class that belongs to no family fails ``tests/unit/test_outcomes.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from oic_gateway.errors import (
    AccessDenied,
    BadPath,
    BadQuery,
    CannotDecide,
    ConfigError,
    ExchangeError,
    InternalError,
    TokenEndpointThrottled,
    TokenRejected,
)

AuthorizerAnswer = Literal["deny", "cannot_decide", "defect"]
DENY: Final = "deny"
CANNOT_DECIDE: Final = "cannot_decide"
DEFECT: Final = "defect"


@dataclass(frozen=True)
class Outcome:
    status: int  # the backend's HTTP status
    code: str | None  # the backend's JSON error code; None: the refusal's RFC 6750 code
    challenge: bool  # the backend's answer carries WWW-Authenticate
    authorizer: AuthorizerAnswer

    def error_code(self, error: BaseException) -> str:
        if self.code is not None:
            return self.code
        refusal = error.oauth_error if isinstance(error, TokenRejected) else None
        return refusal or "missing_token"  # RFC 6750: no error code when no token was sent


# A defect: anything not raised on purpose, or an internal error that escaped its module.
INTERNAL = Outcome(502, "internal_error", False, DEFECT)

OUTCOMES: Final[dict[type[BaseException], Outcome]] = {
    TokenRejected: Outcome(401, None, True, DENY),
    AccessDenied: Outcome(403, None, True, DENY),  # insufficient_scope, also for an unmapped subject
    BadPath: Outcome(400, "bad_path", False, DENY),  # the backend refuses the target before any token work
    BadQuery: Outcome(400, "bad_query", False, DENY),  # a query parameter OIC's runtime reads (access.query)
    CannotDecide: Outcome(502, "cannot_verify_caller", False, CANNOT_DECIDE),
    ExchangeError: Outcome(502, "token_unavailable", False, CANNOT_DECIDE),
    TokenEndpointThrottled: Outcome(503, "token_endpoint_throttled", False, CANNOT_DECIDE),  # and Retry-After
    ConfigError: Outcome(502, "configuration_error", False, CANNOT_DECIDE),
    InternalError: INTERNAL,
}


def listed_family(kind: type[BaseException]) -> type[BaseException] | None:
    """The nearest class of ``kind``'s ancestry the table lists, if any."""
    return next((base for base in kind.__mro__ if base in OUTCOMES), None)


def outcome_of(error: BaseException) -> Outcome:
    """What callers see for ``error`` (``INTERNAL`` for anything not raised on purpose)."""
    family = listed_family(type(error))
    return INTERNAL if family is None else OUTCOMES[family]
