"""The vault's token bucket, with time given: a burst, then the rate, never above burst."""

from __future__ import annotations

from phrchain.gateway.ratelimit import TokenBucket


def test_a_burst_then_the_rate() -> None:
    bucket = TokenBucket.full(rate_per_s=2, burst=3, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(100.4) is False  # 0.8 of a token
    assert bucket.take(100.5) is True   # 1.0 token after 0.5 s at 2/s
    assert bucket.take(200.0) and bucket.tokens == 2  # refilled to the burst, not beyond
