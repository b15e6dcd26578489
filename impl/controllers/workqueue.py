"""client-go's workqueue as a sans-I/O state machine: what a controller's workers take keys from.

Sources: k8s.io/client-go ``util/workqueue`` (``doc.go``, ``queue.go``, ``delaying_queue.go``,
``rate_limiting_queue.go``, ``default_rate_limiters.go``) and golang.org/x/time/rate (the token
bucket). The rules kept, in client-go's words where it has them:

- **Stingy.** ``add(key)`` marks the key dirty; a dirty key is queued at most once, however often
  it is added before a worker takes it.
- **Fair.** ``get()`` hands out the oldest queued key (first in, first out) and marks it
  processing; the key stops being dirty.
- **One worker per key.** A key that is added while it is processing becomes dirty but is not
  queued; ``done(key)`` queues it again then, so the change is processed, but never by two workers
  at once.
- **Delays.** ``add_after(key, delay, now)`` holds the key until tick ``now + delay``; a delay of
  0 or less is a plain ``add``. A key waits at most once: adding it again with an earlier ready
  tick moves it earlier, a later one changes nothing (``insert`` in ``delaying_queue.go``).
- **Rate limits.** ``add_rate_limited(key, now)`` is ``add_after`` with the delay the rate limiter
  chooses; ``forget(key)`` ends the key's failure count and ``num_requeues(key)`` reads it. The
  default controller limiter is the larger of a per-item exponential backoff and one token bucket
  shared by all keys (``DefaultTypedControllerRateLimiter``); both are asked every time, so every
  rate-limited add takes a token even when the backoff decides.
- **Shut down.** After ``shut_down()`` adds (plain, delayed, rate-limited) are ignored and delayed
  keys are never moved in; ``get()`` still hands out what is queued, and only when nothing is
  left does it answer ``None`` for good (``shutting_down`` tells a worker to stop).

Sans-I/O: no goroutines, no clock. Where client-go's ``Get`` blocks, ``get()`` answers ``None``;
where its waiting loop wakes on a timer, the owner calls ``tick(now)`` (``next_ready_tick()``
says when something is due). Order is deterministic: queued keys in add order; delayed keys move
in by (ready tick, order in which they started waiting); client-go's heap leaves equal ready
times in no particular order.

Time. One tick is one second (``impl/apiserver/objectmeta.py``). client-go's numbers are kept
in milliseconds and every delay is rounded *up* to whole ticks, so a key never comes back
earlier than it would in a real cluster and the schedule stays the real one, seconds being
seconds everywhere else too (lease 15 s = 15 ticks):

- per item, ``5 ms * 2**failures`` capped at 1000 s: failures 0..7 wait 1 tick (5..640 ms), then
  2, 3, 6, 11, 21, 41, 82, 164, 328, 656 ticks, and from the 18th failure on the cap of 1000
  ticks, the same failure count at which client-go reaches its cap. Scaling the base to one tick
  instead (1, 2, 4 ... ticks) would make a key that failed ten times wait 17 minutes where a real
  controller waits 5 seconds.
- the bucket: 10 tokens a second and a burst of 100 are 10 tokens a tick and 100; it starts
  full, as a new ``rate.Limiter`` does. A reservation may take the bucket below zero, and the key
  then waits until the deficit is refilled: ``ceil(deficit / 10)`` ticks.
"""

from __future__ import annotations

import collections
import heapq
from typing import Hashable, Protocol

import attrs

__all__ = ["WorkQueue", "RateLimiter", "ItemExponentialBackoff", "TokenBucket", "MaxOf",
           "default_controller_rate_limiter", "ticks_for_milliseconds", "TICK_MILLISECONDS"]

TICK_MILLISECONDS = 1000  # one tick is one second
EXPONENT_MAX = 64  # 5 ms * 2**64 is far past any cap; keeps the arithmetic small


def ticks_for_milliseconds(milliseconds: int) -> int:
    """Whole ticks that last at least ``milliseconds``: a delay is never cut short."""
    return -(-milliseconds // TICK_MILLISECONDS)


class RateLimiter(Protocol):
    """``TypedRateLimiter``: how long a key waits before its retry, and its failure count."""

    def when(self, key: Hashable, now: int) -> int: ...

    def forget(self, key: Hashable) -> None: ...

    def num_requeues(self, key: Hashable) -> int: ...


@attrs.define
class ItemExponentialBackoff:
    """``ItemExponentialFailureRateLimiter``: ``base * 2**failures`` capped, per key."""

    base_milliseconds: int = 5
    max_milliseconds: int = 1_000_000
    failures: dict[Hashable, int] = attrs.field(factory=dict)

    def delay_ticks(self, failures: int) -> int:
        """The wait after ``failures`` earlier failures, in whole ticks."""
        milliseconds = min(self.base_milliseconds << min(failures, EXPONENT_MAX), self.max_milliseconds)
        return ticks_for_milliseconds(milliseconds)

    def when(self, key: Hashable, now: int) -> int:
        failures = self.failures.get(key, 0)
        self.failures[key] = failures + 1
        return self.delay_ticks(failures)

    def forget(self, key: Hashable) -> None:
        self.failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        return self.failures.get(key, 0)


@attrs.define
class TokenBucket:
    """``BucketRateLimiter`` over ``rate.Limiter``: one bucket for all keys, counted in tokens.

    ``tokens`` may go below zero: a reservation is granted at once and paid for by waiting."""

    tokens_per_tick: int = 10
    burst: int = 100
    tokens: int = attrs.field(default=attrs.Factory(lambda bucket: bucket.burst, takes_self=True))  # starts full
    last_tick: int = 0

    def when(self, key: Hashable, now: int) -> int:
        self._refill(now)
        self.tokens -= 1
        deficit = -self.tokens
        return -(-deficit // self.tokens_per_tick) if deficit > 0 else 0

    def _refill(self, now: int) -> None:
        elapsed = max(0, now - self.last_tick)  # a clock read earlier than the last refill adds nothing
        self.tokens = min(self.burst, self.tokens + elapsed * self.tokens_per_tick)
        self.last_tick = max(self.last_tick, now)

    def forget(self, key: Hashable) -> None:
        pass  # the bucket is shared: nothing per key to forget

    def num_requeues(self, key: Hashable) -> int:
        return 0


@attrs.define
class MaxOf:
    """``MaxOfRateLimiter``: asks every limiter (each books the request) and waits the longest."""

    limiters: tuple[RateLimiter, ...]

    def when(self, key: Hashable, now: int) -> int:
        return max(limiter.when(key, now) for limiter in self.limiters)

    def forget(self, key: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return max(limiter.num_requeues(key) for limiter in self.limiters)


def default_controller_rate_limiter() -> MaxOf:
    """``DefaultTypedControllerRateLimiter``: 5 ms .. 1000 s per key, 10 qps with burst 100 overall."""
    return MaxOf((ItemExponentialBackoff(), TokenBucket()))


class WorkQueue:
    """A rate-limiting, delaying work queue of hashable keys (``namespace/name`` strings)."""

    def __init__(self, rate_limiter: RateLimiter | None = None) -> None:
        self.rate_limiter: RateLimiter = rate_limiter or default_controller_rate_limiter()
        # queue: the order of work. Every key in it is dirty and not processing.
        self._queue: collections.deque[Hashable] = collections.deque()
        self._dirty: set[Hashable] = set()  # keys that need processing (queued, or re-added while processing)
        self._processing: set[Hashable] = set()  # handed out, done() not yet called
        # Delayed keys: the ready tick and start order each waits for, and a heap over them in
        # which an entry superseded by an earlier ready tick is skipped when it surfaces.
        self._waiting: dict[Hashable, tuple[int, int]] = {}
        self._waiting_heap: list[tuple[int, int, Hashable]] = []
        self._waiting_started = 0
        self._shutting_down = False

    # ----- the basic queue (queue.go) -----------------------------------------------------

    def add(self, key: Hashable) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:  # else done() queues it: one worker per key
            self._queue.append(key)

    def get(self) -> Hashable | None:
        """The oldest queued key, now processing; ``None`` when nothing is queued."""
        if not self._queue:
            return None
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: Hashable) -> None:
        """The worker finished ``key``; if it was added meanwhile, it is queued again."""
        assert key in self._processing, f"done({key!r}) for a key that is not processing"
        self._processing.remove(key)
        if key in self._dirty:
            self._queue.append(key)

    def shut_down(self) -> None:
        self._shutting_down = True

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def finished(self) -> bool:
        """A worker's ``Get`` would answer shutdown: shutting down and nothing queued."""
        return self._shutting_down and not self._queue

    def __len__(self) -> int:
        """Keys queued (not processing, not waiting), as ``Len`` counts."""
        return len(self._queue)

    def queued(self) -> tuple[Hashable, ...]:
        return tuple(self._queue)

    def processing(self) -> frozenset[Hashable]:
        return frozenset(self._processing)

    def is_dirty(self, key: Hashable) -> bool:
        return key in self._dirty

    # ----- delays (delaying_queue.go) -----------------------------------------------------

    def add_after(self, key: Hashable, delay: int, now: int) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        ready = now + delay
        known = self._waiting.get(key)
        if known is not None and known[0] <= ready:
            return  # already due as early or earlier
        start = known[1] if known is not None else self._next_start()
        self._waiting[key] = (ready, start)
        heapq.heappush(self._waiting_heap, (ready, start, key))

    def _next_start(self) -> int:
        self._waiting_started += 1
        return self._waiting_started

    def tick(self, now: int) -> None:
        """Move every delayed key whose ready tick has come into the queue, earliest first."""
        if self._shutting_down:
            return  # the waiting loop has ended: delayed keys stay where they are
        while self._waiting_heap and self._waiting_heap[0][0] <= now:
            ready, start, key = heapq.heappop(self._waiting_heap)
            if self._waiting.get(key) != (ready, start):
                continue  # superseded by an earlier ready tick, already moved in
            del self._waiting[key]
            self.add(key)

    def next_ready_tick(self) -> int | None:
        """When ``tick`` next has something to move; ``None`` when nothing waits."""
        return min((ready for ready, _ in self._waiting.values()), default=None)

    def waiting(self) -> dict[Hashable, int]:
        """Each delayed key and its ready tick."""
        return {key: ready for key, (ready, _) in self._waiting.items()}

    # ----- rate limits (rate_limiting_queue.go) -------------------------------------------

    def add_rate_limited(self, key: Hashable, now: int) -> None:
        # The limiter is asked even when shutting down (the add is then ignored), as in client-go.
        self.add_after(key, self.rate_limiter.when(key, now), now)

    def forget(self, key: Hashable) -> None:
        self.rate_limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return self.rate_limiter.num_requeues(key)
