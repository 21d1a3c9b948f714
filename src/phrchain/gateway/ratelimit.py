"""The token bucket both of the vault's rates use: each caller's own, and the one that
all unregistered callers share (``gateway/attempts.py``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    """``rate_per_s`` tokens a second up to ``burst``; each request takes one. Not
    thread-safe: its owner holds a lock around :meth:`take`."""

    rate_per_s: float
    burst: float
    tokens: float
    stamp: float

    @classmethod
    def full(cls, rate_per_s: float, burst: float, now: float) -> TokenBucket:
        return cls(rate_per_s, burst, float(burst), now)

    def take(self, now: float) -> bool:
        """Refill for the time since the last call, then take a token if there is one."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate_per_s)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
