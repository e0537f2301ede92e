"""What `make fleet` says about a run without the fleet cache: the model D(K, C) only when every call succeeded.

Under the identity provider's limit the token requests counted are what the limit let through plus the 429s
(on 2026-12-02: 645 = 600 granted, the 600/min limit in a 14 s run, + 45 answered 429), not the fleet's demand."""

from __future__ import annotations

from collections import Counter

from local.fleet import RunResult, model_line


def run(token_requests: int, throttled: int, statuses: Counter[int], reasons: Counter[str]) -> RunResult:
    return RunResult("function-backend", False, "fresh", 8, 300, 2400, token_requests, throttled, statuses,
                     [1.0], 14.0, reasons)


def test_a_throttled_run_says_the_model_does_not_apply() -> None:
    line = model_line(run(645, 45, Counter({200: 1076, 503: 1324}), Counter({"503 token_endpoint_throttled": 1324})),
                      (100, 600))
    assert "645 token requests sent, 2.15 per subject: 600 granted" in line
    assert "(the limit: 100/s, 600/min, over a 14 s run) and 45 answered 429" in line
    assert "1324 of 2400 calls failed (1324 503 token_endpoint_throttled)" in line
    assert "K(1-(1-1/K)^C) = 5.25 per subject (K=8, C=8), assumes every call succeeds" in line
    assert "does not apply" in line


def test_a_run_where_every_call_succeeded_is_compared_with_the_model() -> None:
    line = model_line(run(1573, 0, Counter({200: 2400}), Counter()), (10**9, 10**9))
    assert line.endswith("5.24 token requests per subject, no call failed; the model says "
                         "K(1-(1-1/K)^C) = 5.25 per subject (K=8, C=8)")
