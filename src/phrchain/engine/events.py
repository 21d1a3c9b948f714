"""One event hub for every engine: committed blocks and tx results, fanned out to the
API's event streams (``GET /v1/events``).

An engine publishes each committed block as one batch — the ``block`` item, then one
``tx`` item per tx, in block order — and every subscriber receives whole batches, in the
order they were published.

Slow subscribers: each subscriber has a bounded queue (``max_items``). The hub never
waits for a consumer, so block production is never held up by one: a batch that does not
fit in a subscriber's queue is not delivered to it at all, and that subscriber is cut off
(:meth:`EventHub.is_subscribed` turns false; the API then tells its client ``dropped``).
Nothing is ever half-delivered: what a subscriber has received is a prefix of the stream,
ending at a block boundary.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Final

#: What a subscriber reads: ``{"kind": "block" | "tx", "height", ...}`` items.
Subscription = queue.Queue[dict[str, Any]]

MAX_QUEUED_ITEMS: Final = 10_000


class EventHub:
    """Thread-safe fan-out of committed-block events to bounded subscriber queues."""

    def __init__(self, max_items: int = MAX_QUEUED_ITEMS) -> None:
        if max_items < 1:
            raise ValueError("a subscriber queue holds at least one item")
        self.max_items = max_items
        self._lock = threading.Lock()
        self._subscribers: list[Subscription] = []

    def subscribe(self) -> Subscription:
        """A new queue that receives every batch published from now on."""
        subscription: Subscription = queue.Queue(maxsize=self.max_items)
        with self._lock:
            self._subscribers.append(subscription)
        return subscription

    def is_subscribed(self, subscription: Subscription) -> bool:
        """False once unsubscribed, or once the hub cut it off for falling behind."""
        with self._lock:
            return subscription in self._subscribers

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to ``subscription`` (harmless if it was already cut off)."""
        with self._lock:
            if subscription in self._subscribers:
                self._subscribers.remove(subscription)

    @property
    def active(self) -> bool:
        """Whether anyone is listening: engines skip building items for nobody."""
        return bool(self._subscribers)

    def publish(self, items: list[dict[str, Any]]) -> None:
        """Deliver one block's items to every subscriber with room for all of them; cut
        off the others. Never blocks on a consumer."""
        if not items:
            return
        with self._lock:
            for subscription in list(self._subscribers):
                # Only this method puts, under the lock; consumers only take. So room
                # seen here can only grow before the puts below.
                if self.max_items - subscription.qsize() < len(items):
                    self._subscribers.remove(subscription)
                    continue
                for item in items:
                    subscription.put_nowait(item)
