"""The one event hub both engines publish to: whole blocks, in order, bounded queues,
slow subscribers cut off instead of holding up the producer."""

from __future__ import annotations

import queue
import threading
from typing import Any

import pytest

from phrchain.engine.events import EventHub, Subscription


def _block(height: int, txs: int) -> list[dict[str, Any]]:
    return [{"kind": "block", "height": height, "num_txs": txs}] + [
        {"kind": "tx", "height": height, "index": i} for i in range(txs)]


def _drain(subscription: Subscription) -> list[dict[str, Any]]:
    items = []
    while True:
        try:
            items.append(subscription.get_nowait())
        except queue.Empty:
            return items


def test_every_subscriber_gets_every_batch_in_order() -> None:
    hub = EventHub()
    first, second = hub.subscribe(), hub.subscribe()
    hub.publish(_block(1, 2))
    hub.publish(_block(2, 0))
    expected = _block(1, 2) + _block(2, 0)
    assert _drain(first) == expected and _drain(second) == expected


def test_a_subscriber_sees_only_what_is_published_after_it_subscribed() -> None:
    hub = EventHub()
    early = hub.subscribe()
    hub.publish(_block(1, 1))
    late = hub.subscribe()
    hub.publish(_block(2, 1))
    assert _drain(early) == _block(1, 1) + _block(2, 1)
    assert _drain(late) == _block(2, 1)


def test_unsubscribed_queues_receive_nothing_more() -> None:
    hub = EventHub()
    subscription = hub.subscribe()
    assert hub.active and hub.is_subscribed(subscription)
    hub.unsubscribe(subscription)
    hub.unsubscribe(subscription)  # twice is harmless
    hub.publish(_block(1, 1))
    assert not hub.active and not hub.is_subscribed(subscription)
    assert _drain(subscription) == []


def test_a_slow_subscriber_is_cut_off_at_a_block_boundary() -> None:
    hub = EventHub(max_items=5)
    slow, fast = hub.subscribe(), hub.subscribe()
    hub.publish(_block(1, 2))  # 3 items: both have room
    _drain(fast)
    hub.publish(_block(2, 2))  # 3 more: slow holds 3 of 5, so not even part is delivered
    assert not hub.is_subscribed(slow) and hub.is_subscribed(fast)
    assert _drain(slow) == _block(1, 2)  # a prefix ending at a block, never half a block
    assert _drain(fast) == _block(2, 2)
    hub.publish(_block(3, 0))
    assert _drain(slow) == [] and _drain(fast) == _block(3, 0)


def test_a_subscriber_that_keeps_up_is_never_cut_off() -> None:
    hub = EventHub(max_items=3)
    subscription = hub.subscribe()
    for height in range(1, 50):
        hub.publish(_block(height, 2))  # exactly fills the queue each time
        assert _drain(subscription) == _block(height, 2)
    assert hub.is_subscribed(subscription)


def test_publish_never_blocks_and_empty_batches_are_ignored() -> None:
    hub = EventHub(max_items=1)
    subscription = hub.subscribe()
    hub.publish([])
    assert hub.is_subscribed(subscription)
    hub.publish(_block(1, 1))  # 2 items never fit: cut off at once, without waiting
    assert not hub.is_subscribed(subscription) and _drain(subscription) == []
    with pytest.raises(ValueError):
        EventHub(max_items=0)


def test_concurrent_publishers_never_interleave_a_batch() -> None:
    hub = EventHub(max_items=100_000)
    subscription = hub.subscribe()
    barrier = threading.Barrier(4)

    def publisher(offset: int) -> None:
        barrier.wait()
        for height in range(offset, offset + 200):
            hub.publish(_block(height, 3))

    threads = [threading.Thread(target=publisher, args=(n * 1000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    items = _drain(subscription)
    assert len(items) == 4 * 200 * 4
    batches = [items[i:i + 4] for i in range(0, len(items), 4)]
    assert all(batch == _block(batch[0]["height"], 3) for batch in batches)
    for n in range(4):  # each publisher's blocks arrive in the order it published them
        mine = [b[0]["height"] for b in batches if n * 1000 <= b[0]["height"] < n * 1000 + 1000]
        assert mine == list(range(n * 1000, n * 1000 + 200))
