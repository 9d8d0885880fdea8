"""Retry delay arithmetic (pure): the bounds every attempt's wait must respect."""

import random

import pytest

from runtime import RetryConfig


def test_delay_without_randomize_is_exponential_and_capped() -> None:
    cfg = RetryConfig(max_attempts=10, factor=2, min_timeout=1, max_timeout=60, randomize=False)
    assert [cfg.delay(a) for a in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_randomized_delay_stays_between_base_and_twice_base() -> None:
    cfg = RetryConfig(max_attempts=5, factor=3, min_timeout=0.5, max_timeout=100, randomize=True)
    rng = random.Random(7)
    for attempt in range(1, 5):
        base = 0.5 * 3 ** (attempt - 1)
        for _ in range(200):
            d = cfg.delay(attempt, rng)
            assert base <= d <= 2 * base


def test_randomized_delay_never_exceeds_max_timeout() -> None:
    cfg = RetryConfig(min_timeout=40, max_timeout=60, factor=2, randomize=True)
    assert all(cfg.delay(a) <= 60 for a in range(1, 6) for _ in range(50))


def test_defaults_are_trigger_dev_defaults() -> None:
    cfg = RetryConfig()
    assert (cfg.max_attempts, cfg.factor, cfg.min_timeout, cfg.max_timeout, cfg.randomize) == (3, 2.0, 1.0, 60.0, True)


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        RetryConfig().delay(0)
