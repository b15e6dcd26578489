"""The workqueue's rules one by one (client-go util/workqueue), then a Hypothesis state machine
that drives it against a tiny model of the same rules."""

from __future__ import annotations

import pytest
from hypothesis import note, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from impl.controllers.workqueue import (ItemExponentialBackoff, MaxOf, TokenBucket, WorkQueue,
                                        default_controller_rate_limiter, ticks_for_milliseconds)

# client-go's delays for failures 0.., 5 ms * 2**n capped at 1000 s, rounded up to whole seconds.
BACKOFF_TICKS = [1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 6, 11, 21, 41, 82, 164, 328, 656, 1000, 1000, 1000]


def drain(queue: WorkQueue, limit: int = 100) -> list:
    """Get and finish keys until none is queued (at most ``limit``: a queue that keeps handing
    out keys is a failure, not a hang)."""
    handed = []
    while (key := queue.get()) is not None:
        handed.append(key)
        queue.done(key)
        assert len(handed) <= limit, f"the queue keeps handing out keys: {handed[:10]}..."
    return handed


# ----- the basic queue ------------------------------------------------------------------------

def test_a_key_is_queued_once_however_often_it_is_added():
    queue = WorkQueue()
    for key in ("a", "b", "a", "a", "b"):
        queue.add(key)
    assert len(queue) == 2
    assert drain(queue) == ["a", "b"]


def test_get_hands_out_the_oldest_key_first():
    queue = WorkQueue()
    for key in ("c", "a", "b"):
        queue.add(key)
    assert [queue.get(), queue.get(), queue.get(), queue.get()] == ["c", "a", "b", None]


def test_a_key_added_while_processing_waits_for_done_and_is_never_handed_out_twice():
    queue = WorkQueue()
    queue.add("a")
    assert queue.get() == "a"
    queue.add("a")
    assert len(queue) == 0 and queue.is_dirty("a")
    assert queue.get() is None, "a second worker must not get a key that is processing"
    queue.done("a")
    assert queue.queued() == ("a",)
    assert queue.get() == "a"


def test_done_without_a_re_add_forgets_the_key():
    queue = WorkQueue()
    queue.add("a")
    queue.done(queue.get())
    assert queue.get() is None and not queue.is_dirty("a")


def test_a_re_added_key_goes_to_the_back_of_the_line_when_done():
    queue = WorkQueue()
    queue.add("a")
    assert queue.get() == "a"
    queue.add("a")
    queue.add("b")
    queue.done("a")
    assert queue.queued() == ("b", "a")


def test_done_for_a_key_that_is_not_processing_is_a_programming_error():
    queue = WorkQueue()
    queue.add("a")
    with pytest.raises(AssertionError):
        queue.done("a")


# ----- delays -----------------------------------------------------------------------------------

def test_add_after_holds_the_key_until_its_ready_tick():
    queue = WorkQueue()
    queue.add_after("a", 5, now=10)
    assert queue.waiting() == {"a": 15} and queue.next_ready_tick() == 15
    queue.tick(14)
    assert queue.get() is None
    queue.tick(15)
    assert queue.get() == "a" and queue.waiting() == {}


def test_add_after_without_a_positive_delay_adds_at_once():
    queue = WorkQueue()
    queue.add_after("a", 0, now=3)
    queue.add_after("b", -2, now=3)
    assert queue.queued() == ("a", "b") and queue.waiting() == {}


def test_a_waiting_key_moves_earlier_but_never_later():
    queue = WorkQueue()
    queue.add_after("a", 10, now=0)
    queue.add_after("a", 20, now=0)
    assert queue.waiting() == {"a": 10}
    queue.add_after("a", 3, now=0)
    assert queue.waiting() == {"a": 3}
    queue.tick(3)
    assert queue.queued() == ("a",)
    queue.done(queue.get())
    queue.add_after("a", 20, now=3)  # waits again, until 23
    queue.tick(10)  # the superseded entry for 10 moves nothing
    assert queue.queued() == () and queue.waiting() == {"a": 23}


def test_delayed_keys_move_in_by_ready_tick_then_by_the_order_they_started_waiting():
    queue = WorkQueue()
    queue.add_after("late", 9, now=0)
    queue.add_after("b", 4, now=0)
    queue.add_after("a", 2, now=2)
    queue.add_after("c", 1, now=3)
    queue.tick(100)
    assert queue.queued() == ("b", "a", "c", "late")


def test_a_delayed_key_that_is_already_queued_is_not_queued_twice():
    queue = WorkQueue()
    queue.add("a")
    queue.add_after("a", 1, now=0)
    queue.tick(1)
    assert queue.queued() == ("a",)


# ----- rate limits ------------------------------------------------------------------------------

def test_milliseconds_round_up_to_whole_ticks():
    assert [ticks_for_milliseconds(ms) for ms in (0, 1, 999, 1000, 1001, 5120)] == [0, 1, 1, 1, 2, 6]


def test_per_item_backoff_doubles_from_5_ms_and_caps_at_1000_s():
    backoff = ItemExponentialBackoff()
    assert [backoff.when("a", now=0) for _ in BACKOFF_TICKS] == BACKOFF_TICKS
    assert backoff.num_requeues("a") == len(BACKOFF_TICKS)
    assert backoff.delay_ticks(10_000) == 1000
    assert backoff.when("b", now=0) == 1, "failures are counted per key"


def test_forget_resets_a_keys_failures():
    queue = WorkQueue(ItemExponentialBackoff())
    for _ in range(12):
        queue.add_rate_limited("a", now=0)
    assert queue.num_requeues("a") == 12 and queue.waiting() == {"a": 1}
    queue.forget("a")
    assert queue.num_requeues("a") == 0
    queue.add_rate_limited("a", now=50)
    assert queue.waiting() == {"a": 1}, "an earlier entry wins"


def test_add_rate_limited_waits_the_backoff():
    queue = WorkQueue(ItemExponentialBackoff())
    now = 0
    for expected in BACKOFF_TICKS[:12]:
        queue.add_rate_limited("a", now)
        assert queue.waiting() == {"a": now + expected}
        now += expected
        queue.tick(now)
        assert queue.get() == "a"
        queue.done("a")


def test_the_bucket_starts_full_then_grants_ten_a_tick():
    bucket = TokenBucket()
    assert [bucket.when("k", now=0) for _ in range(100)] == [0] * 100
    assert [bucket.when("k", now=0) for _ in range(11)] == [1] * 10 + [2]  # 100 ms each, rounded up
    assert bucket.when("k", now=3) == 0  # 30 tokens refilled, 11 owed: 19 left, take one
    assert bucket.tokens == 18


def test_the_bucket_refills_to_its_burst_only():
    bucket = TokenBucket()
    bucket.when("k", now=0)
    assert bucket.when("k", now=1000) == 0 and bucket.tokens == 99


def test_the_default_limiter_waits_the_longer_of_backoff_and_bucket():
    limiter = default_controller_rate_limiter()
    assert isinstance(limiter, MaxOf)
    delays = [limiter.when(f"key-{i}", now=0) for i in range(130)]  # first failures: backoff 1 tick
    assert delays[:110] == [1] * 110 and delays[110:120] == [2] * 10 and delays[120:] == [3] * 10
    assert limiter.num_requeues("key-0") == 1
    limiter.forget("key-0")
    assert limiter.num_requeues("key-0") == 0


def test_every_rate_limited_add_takes_a_token_even_when_the_backoff_decides():
    bucket = TokenBucket()
    queue = WorkQueue(MaxOf((ItemExponentialBackoff(), bucket)))
    for _ in range(20):
        queue.add_rate_limited("a", now=0)
    assert bucket.tokens == 80 and queue.waiting() == {"a": 1}


# ----- shutting down ----------------------------------------------------------------------------

def test_after_shut_down_adds_are_ignored_and_queued_keys_still_handed_out():
    queue = WorkQueue()
    queue.add("a")
    queue.add_after("late", 1, now=0)
    queue.shut_down()
    queue.add("b")
    queue.add_after("c", 0, now=0)
    queue.add_rate_limited("d", now=0)
    queue.tick(100)
    assert queue.shutting_down and not queue.finished
    assert queue.get() == "a"
    assert queue.finished and queue.get() is None
    queue.done("a")
    assert queue.waiting() == {"late": 1}, "the waiting loop has ended: delayed keys never come in"
    assert queue.num_requeues("d") == 1, "the limiter is asked before the add is ignored"


def test_a_key_re_added_while_processing_before_shut_down_is_still_handed_out():
    queue = WorkQueue()
    queue.add("a")
    queue.get()
    queue.add("a")
    queue.shut_down()
    queue.done("a")
    assert queue.get() == "a"


# ----- the queue against a model ------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "d"])


def model_backoff_ticks(failures: int) -> int:
    """Written apart from the implementation: the table, then the cap."""
    return BACKOFF_TICKS[failures] if failures < len(BACKOFF_TICKS) else 1000


class WorkQueueMachine(RuleBasedStateMachine):
    """The model keeps client-go's three sets as plain lists and dicts; every rule does the same
    thing to both and the invariants compare them."""

    def __init__(self) -> None:
        super().__init__()
        self.queue = WorkQueue(ItemExponentialBackoff())
        self.now = 0
        self.order: list[str] = []  # queued keys in order
        self.dirty: set[str] = set()
        self.processing: set[str] = set()
        self.waiting: dict[str, int] = {}
        self.waiting_order: dict[str, int] = {}
        self.started = 0
        self.failures: dict[str, int] = {}
        self.shut = False
        self.handed_out: list[str] = []

    def _model_add(self, key: str) -> None:
        if self.shut or key in self.dirty:
            return
        self.dirty.add(key)
        if key not in self.processing:
            self.order.append(key)

    def _model_add_after(self, key: str, delay: int) -> None:
        if self.shut:
            return
        if delay <= 0:
            self._model_add(key)
        elif key not in self.waiting or self.now + delay < self.waiting[key]:
            if key not in self.waiting:
                self.started += 1
                self.waiting_order[key] = self.started
            self.waiting[key] = self.now + delay

    @rule(key=KEYS)
    def add(self, key: str) -> None:
        self.queue.add(key)
        self._model_add(key)

    @rule()
    def get(self) -> None:
        key = self.queue.get()
        expected = self.order.pop(0) if self.order else None
        assert key == expected
        if key is not None:
            assert key not in self.processing, f"{key} handed to a second worker"
            self.processing.add(key)
            self.dirty.discard(key)
            self.handed_out.append(key)

    @precondition(lambda self: self.processing)
    @rule(data=st.data())
    def done(self, data) -> None:
        key = data.draw(st.sampled_from(sorted(self.processing)))
        self.queue.done(key)
        self.processing.remove(key)
        if key in self.dirty:
            self.order.append(key)

    @rule(key=KEYS, delay=st.integers(-1, 6))
    def add_after(self, key: str, delay: int) -> None:
        self.queue.add_after(key, delay, self.now)
        self._model_add_after(key, delay)

    @rule(key=KEYS)
    def add_rate_limited(self, key: str) -> None:
        failures = self.failures.get(key, 0)
        self.failures[key] = failures + 1
        self.queue.add_rate_limited(key, self.now)
        self._model_add_after(key, model_backoff_ticks(failures))

    @rule(key=KEYS, times=st.integers(2, 25))
    def fail_repeatedly(self, key: str, times: int) -> None:
        """Enough failures in a row to reach the cap."""
        for _ in range(times):
            self.add_rate_limited(key)

    @rule(key=KEYS)
    def forget(self, key: str) -> None:
        self.queue.forget(key)
        self.failures.pop(key, None)

    @rule(ticks=st.integers(0, 8))
    def advance(self, ticks: int) -> None:
        self.now += ticks
        self.queue.tick(self.now)
        self._model_tick()

    def _model_tick(self) -> None:
        if self.shut:
            return
        due = sorted((ready, self.waiting_order[key], key) for key, ready in self.waiting.items() if ready <= self.now)
        for _, _, key in due:
            del self.waiting[key]
            self._model_add(key)

    @precondition(lambda self: not self.shut)
    @rule(roll=st.integers(0, 7))
    def shut_down(self, roll: int) -> None:
        if roll:  # rare: a queue shut down early leaves nothing else to test
            return
        self.queue.shut_down()
        self.shut = True

    @invariant()
    def same_as_the_model(self) -> None:
        assert list(self.queue.queued()) == self.order
        assert self.queue.processing() == self.processing
        assert self.queue.waiting() == self.waiting
        for key in "abcd":
            assert self.queue.is_dirty(key) == (key in self.dirty)
            assert self.queue.num_requeues(key) == self.failures.get(key, 0)

    @invariant()
    def queued_once_and_never_while_processing(self) -> None:
        queued = self.queue.queued()
        assert len(set(queued)) == len(queued)
        assert not set(queued) & self.queue.processing()
        assert set(queued) <= self.dirty

    def teardown(self) -> None:
        """Every key that still needs work is handed out once the workers finish and time
        passes; after a shut down only what was already queued (or re-added) is."""
        owed = set(self.dirty) | (set() if self.shut else set(self.waiting))
        for key in sorted(self.processing):
            self.queue.done(key)
        self.queue.tick(self.now + 1000)
        handed = drain(self.queue)
        note(f"owed {sorted(owed)}, handed out at the end {handed}")
        assert sorted(handed) == sorted(owed)
        assert self.queue.get() is None


TestWorkQueueMachine = WorkQueueMachine.TestCase
