"""Adaptive per-pixel concurrency: a latency gradient, halving on throttles, auth cool-downs."""

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


def test_starts_at_initial() -> None:
    """A pixel starts at its initial limit, not at the cap."""
    assert (4, 32) == (PixelLimit(maximum=32, initial=4).allowed, PixelLimit(maximum=32).allowed)


def test_steady_latency_grows_to_the_cap() -> None:
    """While Meta answers as fast as before (slow, not saturating), the limit climbs to the cap."""
    limit = PixelLimit(maximum=32, initial=4)

    for _ in range(200):
        limit.on_success(0.4, in_flight=limit.allowed)

    assert 32 == limit.allowed


def test_slow_start_reaches_the_cap_in_a_few_rounds() -> None:
    """Below any throttle threshold the limit doubles per round of requests (+1 per success):
    from 4 to the cap of 32 within three rounds, not tens of seconds at Meta's latency."""
    limit = PixelLimit(maximum=32, initial=4)
    rounds = 0

    while limit.allowed < 32 and rounds < 10:
        for _ in range(limit.allowed):  # one round: every request in flight answered
            limit.on_success(0.4, in_flight=limit.allowed)
        rounds += 1

    assert (32, True) == (limit.allowed, rounds <= 3)


def test_idle_pixel_does_not_grow() -> None:
    """A pixel using less than half of its limit learns nothing about a higher one."""
    limit = PixelLimit(maximum=32, initial=8)

    for _ in range(200):
        limit.on_success(0.4, in_flight=1)

    assert 8 == limit.allowed


def test_rising_latency_shrinks() -> None:
    """Latency jumping well above its long-run average (Meta saturating) takes the limit down."""
    limit = PixelLimit(maximum=32, initial=16)
    for _ in range(50):
        limit.on_success(0.2, in_flight=16)
    grown = limit.allowed

    for _ in range(20):
        limit.on_success(2.0, in_flight=limit.allowed)

    assert (True, True) == (grown > 16, limit.allowed < grown // 2)


def test_throttle_slows_later_growth() -> None:
    """After a throttle, growth above the halved limit is additive: ~1 per round of requests."""
    limit = PixelLimit(maximum=32, initial=32)
    limit.on_throttle(now=0.0, backoff_s=0.0)

    for _ in range(32):  # about two rounds of 16 requests, at a steady latency
        limit.on_success(0.4, in_flight=limit.allowed)

    assert (16.0, 17) == (limit.threshold, limit.allowed)
