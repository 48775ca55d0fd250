"""Adaptive per-pixel concurrency: multiplicative decrease on throttling, additive increase."""

from __future__ import annotations

from consumer.core.limits import PixelLimit


def test_throttle_halves_and_waits() -> None:
    """A throttle halves the limit (never below 1) and sets a wait."""
    limit = PixelLimit(maximum=8)

    limit.on_throttle(now=100.0, backoff_s=2.0)

    assert (4, 2.0, 1.0) == (limit.allowed, limit.wait_s(100.0), limit.wait_s(101.0))


def test_floor_is_one() -> None:
    """Repeated throttles keep one request allowed."""
    limit = PixelLimit(maximum=4)
    for _ in range(10):
        limit.on_throttle(now=0.0, backoff_s=0.0)

    assert 1 == limit.allowed


def test_success_recovers_to_maximum() -> None:
    """Successes raise the limit back up to the maximum and no further."""
    limit = PixelLimit(maximum=4)
    limit.on_throttle(now=0.0, backoff_s=0.0)
    limit.on_throttle(now=0.0, backoff_s=0.0)
    assert 1 == limit.allowed

    for _ in range(20):
        limit.on_success()

    assert 4 == limit.allowed


def test_auth_cooldown() -> None:
    """An auth failure holds the pixel for the cool-down, then lets a probe through."""
    limit = PixelLimit(maximum=4)

    limit.on_auth_failure(now=10.0, cooldown_s=60.0)

    assert (True, False) == (limit.in_auth_cooldown(69.9), limit.in_auth_cooldown(70.0))
