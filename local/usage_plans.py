"""API Gateway usage plans, as the local gateway enforces them.

Input is what OCI takes: usage plans shaped like the SDK's
``CreateUsagePlanDetails`` and subscribers like ``CreateSubscriberDetails``
(``deploy/usage-plans.example.json``). A deployment whose specification has
``requestPolicies.usagePlans.tokenLocations`` finds the client token there
(``request.auth[client_id]``: the client id the authorizer verified); the
subscriber holding that token is held to its plans' entitlements:

* ``rateLimit`` (per ``SECOND``): beyond it, 429;
* ``quota`` (per ``MINUTE``/``HOUR``/``DAY``/``WEEK``/``MONTH``, reset on the
  calendar, UTC): beyond it, 429 when ``operationOnBreach`` is ``REJECT``
  (``ALLOW`` lets it through), with when to retry.

Documented, and done so here (docs/operations.md, Per-vendor quotas; docs/oci-fidelity.md):
the rate limit and quota per entitlement, shared between its target
deployments ("Creating a Usage Plan"); over a limit 429 with ``Retry-After``;
a missing client token, or a client no subscriber of an entitling plan holds,
403; the clients of one subscriber share its limits ("Creating a Subscriber",
https://docs.oracle.com/en-us/iaas/Content/APIGateway/Tasks/apigatewaydefiningusageplans_topic-Creating-a-subscriber.htm);
a subscriber holds at most ``MAX_CLIENTS_PER_SUBSCRIBER`` clients (more is
refused here as OCI refuses it). Not documented, so chosen here: the rate
window slides over one second; quotas reset on the calendar (UTC).
"""

from __future__ import annotations

import calendar
import datetime
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# At most 5 API clients per subscriber (docs/oci-fidelity.md, usage plans).
MAX_CLIENTS_PER_SUBSCRIBER = 5


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    retry_after: int | None = None


def period_end(unit: str, now: float) -> float:
    """The end of the calendar period (UTC) that contains ``now``."""
    at = datetime.datetime.fromtimestamp(now, datetime.UTC)
    if unit == "MINUTE":
        end = at.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    elif unit == "HOUR":
        end = at.replace(minute=0, second=0, microsecond=0) + datetime.timedelta(hours=1)
    elif unit == "DAY":
        end = at.replace(hour=0, minute=0, second=0, microsecond=0) + datetime.timedelta(days=1)
    elif unit == "WEEK":  # weeks start on Monday
        day = at.replace(hour=0, minute=0, second=0, microsecond=0)
        end = day + datetime.timedelta(days=7 - day.weekday())
    elif unit == "MONTH":
        days = calendar.monthrange(at.year, at.month)[1]
        end = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + datetime.timedelta(days=days)
    else:
        raise ValueError(f"unknown quota unit {unit!r}")
    return end.timestamp()


class _Counter:
    def __init__(self) -> None:
        self.recent: deque[float] = deque()  # rate limit: the last second's requests
        self.quota_used = 0
        self.quota_period_end = 0.0


class UsagePlans:
    def __init__(
        self,
        plans: Mapping[str, Mapping[str, Any]],
        subscribers: Sequence[Mapping[str, Any]],
        *,
        deployment_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``plans``: plan id -> CreateUsagePlanDetails JSON. ``deployment_id``:
        this deployment, for entitlements that name their targets."""
        self._clock = clock
        self._entitled: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
        for index, subscriber in enumerate(subscribers):
            clients = subscriber.get("clients", [])
            if len(clients) > MAX_CLIENTS_PER_SUBSCRIBER:
                raise ValueError(f"subscriber {subscriber.get('displayName', index)!r} has {len(clients)} clients; "
                                 f"OCI allows at most {MAX_CLIENTS_PER_SUBSCRIBER} per subscriber")
            entitlements = []
            for plan_id in subscriber.get("usagePlans", []):
                for entitlement in plans[plan_id].get("entitlements", []):
                    targets = [t.get("deploymentId") for t in entitlement.get("targets", [])]
                    if not targets or deployment_id is None or deployment_id in targets:
                        entitlements.append((f"{plan_id}/{entitlement['name']}", entitlement))
            for client in clients:  # one subscriber's clients share its counters (documented)
                self._entitled[client["token"]] = [
                    (f"{index}/{key}", entitlement) for key, entitlement in entitlements]
        self._counters: dict[str, _Counter] = {}
        self._lock = threading.Lock()

    def admit(self, client_token: str | None) -> Refusal | None:
        """None if the request may go on (and it is counted), else the refusal."""
        entitlements = self._entitled.get(client_token or "")
        if not entitlements:
            return Refusal(403, "Forbidden")
        now = self._clock()
        with self._lock:
            counters = [(self._counters.setdefault(key, _Counter()), entitlement) for key, entitlement in entitlements]
            for counter, entitlement in counters:
                refusal = self._check(counter, entitlement, now)
                if refusal is not None:
                    return refusal
            for counter, entitlement in counters:
                counter.recent.append(now)
                if entitlement.get("quota"):
                    counter.quota_used += 1
        return None

    @staticmethod
    def _check(counter: _Counter, entitlement: Mapping[str, Any], now: float) -> Refusal | None:
        rate = entitlement.get("rateLimit")
        while counter.recent and counter.recent[0] <= now - 1.0:
            counter.recent.popleft()
        if rate and len(counter.recent) >= int(rate["value"]):
            return Refusal(429, "Too Many Requests", 1)
        quota = entitlement.get("quota")
        if quota:
            if now >= counter.quota_period_end:
                counter.quota_used = 0
                counter.quota_period_end = period_end(quota["unit"], now)
            if counter.quota_used >= int(quota["value"]) and quota.get("operationOnBreach", "REJECT") == "REJECT":
                return Refusal(429, "Too Many Requests", max(math.ceil(counter.quota_period_end - now), 1))
        return None

