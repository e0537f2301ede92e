"""Every error class has a decided outcome (oic_gateway.outcomes): adding one without deciding fails here."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import authorizer
import oic_gateway
from oic_gateway import errors
from oic_gateway.outcomes import CANNOT_DECIDE, DEFECT, DENY, OUTCOMES, listed_family, outcome_of


def _every_error_class() -> list[type[errors.GatewayError]]:
    for package in (oic_gateway, authorizer):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    found: list[type[errors.GatewayError]] = []
    pending: list[type[errors.GatewayError]] = [errors.GatewayError]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found


ERROR_CLASSES = [kind for kind in _every_error_class() if kind is not errors.GatewayError]


def test_errors_py_classes_are_all_gateway_errors() -> None:
    defined = [value for value in vars(errors).values()
               if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == errors.__name__]
    assert defined and all(issubclass(kind, errors.GatewayError) for kind in defined)
    assert set(defined) - {errors.GatewayError} <= set(ERROR_CLASSES)


@pytest.mark.parametrize("kind", ERROR_CLASSES, ids=lambda kind: kind.__qualname__)
def test_every_error_class_has_an_outcome(kind: type[errors.GatewayError]) -> None:
    assert listed_family(kind) is not None, f"{kind.__qualname__}: add its family to oic_gateway.outcomes.OUTCOMES"
    assert all(len(kind.__bases__) == 1 for kind in kind.__mro__[:-2]), "one parent each"


def test_the_root_is_not_a_family() -> None:
    assert errors.GatewayError not in OUTCOMES


@pytest.mark.parametrize("error", [
    errors.InsufficientScope("no scope"),
    errors.UnmappedSubject("no OIC user is mapped for this caller"),
])
def test_access_refusals_answer_insufficient_scope(error: errors.TokenRejected) -> None:
    outcome = outcome_of(error)
    assert (outcome.status, outcome.error_code(error), outcome.challenge, outcome.authorizer) == (
        403, "insufficient_scope", True, DENY)


def test_the_families() -> None:
    assert outcome_of(errors.MissingToken("no token")).error_code(errors.MissingToken("x")) == "missing_token"
    assert outcome_of(errors.InvalidSignature("x")).status == 401
    assert outcome_of(errors.KeysUnavailable("x")).authorizer == CANNOT_DECIDE
    assert outcome_of(errors.ConfigError("K", "bad")).authorizer == CANNOT_DECIDE
    assert outcome_of(errors.TokenEndpointThrottled("x", 0.0)).status == 503
    assert outcome_of(errors.SecretUnavailable("x")).error_code(errors.SecretUnavailable("x")) == "token_unavailable"
    assert outcome_of(errors.FetchError("x")).authorizer == DEFECT
    assert outcome_of(KeyError("a bug")).error_code(KeyError()) == "internal_error"


def test_the_table_is_exactly_this() -> None:
    """Every family's answer, pinned field by field: a status, a code or a challenge changed is a contract change."""
    from oic_gateway.outcomes import INTERNAL, Outcome

    assert {
        errors.TokenRejected: Outcome(401, None, True, DENY),
        errors.AccessDenied: Outcome(403, None, True, DENY),
        errors.BadPath: Outcome(400, "bad_path", False, DENY),
        errors.BadQuery: Outcome(400, "bad_query", False, DENY),
        errors.CannotDecide: Outcome(502, "cannot_verify_caller", False, CANNOT_DECIDE),
        errors.ExchangeError: Outcome(502, "token_unavailable", False, CANNOT_DECIDE),
        errors.TokenEndpointThrottled: Outcome(503, "token_endpoint_throttled", False, CANNOT_DECIDE),
        errors.ConfigError: Outcome(502, "configuration_error", False, CANNOT_DECIDE),
        errors.InternalError: INTERNAL,
    } == OUTCOMES
    assert Outcome(502, "internal_error", False, DEFECT) == INTERNAL
    assert outcome_of(ValueError("a bug")) is INTERNAL


def test_an_outcome_cannot_be_changed() -> None:
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        OUTCOMES[errors.TokenRejected].status = 200  # type: ignore[misc]


def test_a_refusal_answers_its_own_rfc_6750_code() -> None:
    rejected = outcome_of(errors.InvalidSignature("x"))
    assert rejected.error_code(errors.InvalidSignature("x")) == "invalid_token"
    assert rejected.error_code(errors.MissingToken("x")) == "missing_token"
    assert rejected.error_code(KeyError("not a refusal")) == "missing_token"
    assert outcome_of(errors.BadPath("x")).error_code(errors.BadPath("x")) == "bad_path"
