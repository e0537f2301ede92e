"""Usage plans as the local gateway enforces them: the pure part, on a fake clock
(the whole chain is in `make demo`: one vendor throttled while another is served)."""

from __future__ import annotations

import datetime
import json

import pytest

from local.fnrun import ROOT
from local.usage_plans import UsagePlans, period_end
from tests.fakeclock import FakeClock

MONDAY_NOON = datetime.datetime(2027, 3, 1, 12, 0, 0, tzinfo=datetime.UTC).timestamp()


def plans(rate: int | None = None, quota: tuple[int, str, str] | None = None,
          targets: list[str] | None = None) -> dict:
    entitlement: dict = {"name": "calls"}
    if rate is not None:
        entitlement["rateLimit"] = {"value": rate, "unit": "SECOND"}
    if quota is not None:
        entitlement["quota"] = {"value": quota[0], "unit": quota[1], "resetPolicy": "CALENDAR",
                                "operationOnBreach": quota[2]}
    if targets is not None:
        entitlement["targets"] = [{"deploymentId": t} for t in targets]
    return {"plan": {"displayName": "plan", "entitlements": [entitlement]}}


SUBSCRIBERS = [{"displayName": "vendor", "clients": [{"name": "app", "token": "client-1"},
                                                     {"name": "app2", "token": "client-2"}],
                "usagePlans": ["plan"]}]


def test_rate_limit_per_second_shared_by_the_subscribers_clients() -> None:
    clock = FakeClock(MONDAY_NOON)
    gate = UsagePlans(plans(rate=2), SUBSCRIBERS, clock=clock)
    assert gate.admit("client-1") is None and gate.admit("client-2") is None
    refused = gate.admit("client-1")
    assert refused is not None and (refused.status, refused.retry_after) == (429, 1)
    clock.now += 1.01
    assert gate.admit("client-2") is None


def test_quota_resets_on_the_calendar_and_says_when() -> None:
    clock = FakeClock(MONDAY_NOON + 30)
    gate = UsagePlans(plans(quota=(3, "MINUTE", "REJECT")), SUBSCRIBERS, clock=clock)
    assert [gate.admit("client-1") for _ in range(3)] == [None, None, None]
    refused = gate.admit("client-1")
    assert refused is not None and (refused.status, refused.retry_after) == (429, 30)
    clock.now += 30  # the next calendar minute
    assert gate.admit("client-1") is None


def test_allow_on_breach_lets_calls_through_and_unknown_clients_are_refused() -> None:
    clock = FakeClock(MONDAY_NOON)
    gate = UsagePlans(plans(quota=(1, "DAY", "ALLOW")), SUBSCRIBERS, clock=clock)
    assert [gate.admit("client-1") for _ in range(3)] == [None] * 3
    for stranger in ("someone-else", None, ""):
        refused = gate.admit(stranger)
        assert refused is not None and refused.status == 403


def test_entitlements_apply_to_their_target_deployments_only() -> None:
    elsewhere = UsagePlans(plans(rate=1, targets=["ocid1.apideployment.other"]), SUBSCRIBERS,
                           deployment_id="ocid1.apideployment.this")
    refused = elsewhere.admit("client-1")
    assert refused is not None and refused.status == 403  # not entitled to this deployment
    here = UsagePlans(plans(rate=1, targets=["ocid1.apideployment.this"]), SUBSCRIBERS,
                      deployment_id="ocid1.apideployment.this")
    assert here.admit("client-1") is None


def test_calendar_periods() -> None:
    at = datetime.datetime(2027, 2, 10, 13, 45, 30, tzinfo=datetime.UTC).timestamp()  # a Wednesday

    def end(unit: str) -> str:
        return datetime.datetime.fromtimestamp(period_end(unit, at), datetime.UTC).isoformat()

    assert end("MINUTE") == "2027-02-10T13:46:00+00:00" and end("HOUR") == "2027-02-10T14:00:00+00:00"
    assert end("DAY") == "2027-02-11T00:00:00+00:00" and end("WEEK") == "2027-02-15T00:00:00+00:00"
    assert end("MONTH") == "2027-03-01T00:00:00+00:00"


def test_the_shipped_example_loads() -> None:
    example = json.loads((ROOT / "deploy" / "usage-plans.example.json").read_text())
    gate = UsagePlans(example["usagePlans"], example["subscribers"])
    assert gate.admit("<vendor-a-client-id>") is None and gate.admit("<vendor-b-client-id>") is None


def test_at_most_five_clients_per_subscriber_as_oci() -> None:
    """OCI refuses a subscriber with more than 5 clients, so the local gateway refuses to start with one."""

    five = [{"displayName": "vendor", "clients": [{"name": f"app{n}", "token": f"client-{n}"} for n in range(5)],
             "usagePlans": ["plan"]}]
    gate = UsagePlans(plans(rate=5), five, clock=FakeClock(MONDAY_NOON))
    assert [gate.admit(f"client-{n}") for n in range(5)] == [None] * 5
    assert gate.admit("client-0") is not None  # the five share one limit
    six = [{**five[0], "clients": [*five[0]["clients"], {"name": "app5", "token": "client-5"}]}]
    with pytest.raises(ValueError, match="at most 5"):
        UsagePlans(plans(rate=5), six)


def test_subscribers_with_one_name_do_not_share_limits() -> None:
    two = [{"displayName": "same", "clients": [{"name": "a", "token": "client-a"}], "usagePlans": ["plan"]},
           {"displayName": "same", "clients": [{"name": "b", "token": "client-b"}], "usagePlans": ["plan"]}]
    gate = UsagePlans(plans(rate=1), two, clock=FakeClock(MONDAY_NOON))
    assert gate.admit("client-a") is None and gate.admit("client-b") is None
