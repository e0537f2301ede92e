"""The one thing the tests fake: time, for the pure parts that take a clock."""

from __future__ import annotations


class FakeClock:
    def __init__(self, now: float = 10_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
