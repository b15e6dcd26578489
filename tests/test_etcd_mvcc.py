"""Unit tests of the reference MVCC store (impl/etcd), one rule each, with exact revisions.

The rules come from the etcd v3.5 documentation ("Data model", "API", "API guarantees"); the
less documented corners (sub-response revisions, watch prev_kv, compaction at a deletion)
are pinned here as the real server behaves (tests/test_etcd_differential.py checks them).
"""

from __future__ import annotations

import pytest

from impl.etcd import (
    ALL_KEYS,
    Compare,
    DeleteRangeRequest,
    ErrCompacted,
    ErrDuplicateKey,
    ErrEmptyKey,
    ErrFutureRev,
    ErrKeyNotFound,
    ErrLeaseNotFound,
    ErrTooManyOps,
    ErrValueProvided,
    EtcdError,
    Event,
    KeyValue,
    MAX_TXN_OPS,
    PutRequest,
    RangeRequest,
    Store,
    prefix_end,
)


def kv(key: bytes, create: int, mod: int, version: int, value: bytes) -> KeyValue:
    return KeyValue(key, create, mod, version, value)


@pytest.fixture
def store() -> Store:
    return Store()


# ---- revisions and per-key metadata ("Data model") -------------------------------------------

def test_a_fresh_store_is_at_revision_one(store: Store) -> None:
    assert store.revision == 1
    response = store.range(b"a")
    assert (response.revision, response.kvs, response.count) == (1, (), 0)


def test_each_put_gets_one_new_revision_and_versions_count_puts(store: Store) -> None:
    assert store.put(b"a", b"1").revision == 2
    assert store.put(b"a", b"2").revision == 3
    assert store.range(b"a").kvs == (kv(b"a", 2, 3, 2, b"2"),)


def test_put_with_prev_kv_returns_the_state_before(store: Store) -> None:
    assert store.put(b"a", b"1", prev_kv=True).prev_kv is None
    assert store.put(b"a", b"2", prev_kv=True).prev_kv == kv(b"a", 2, 2, 1, b"1")


def test_delete_resets_the_version_and_a_new_put_recreates_the_key(store: Store) -> None:
    store.put(b"a", b"1")
    store.put(b"a", b"2")
    response = store.delete_range(b"a", prev_kv=True)
    assert (response.revision, response.deleted, response.prev_kvs) == (
        4, 1, (kv(b"a", 2, 3, 2, b"2"),))
    store.put(b"a", b"3")
    assert store.range(b"a").kvs == (kv(b"a", 5, 5, 1, b"3"),)


def test_deleting_nothing_does_not_bump_the_revision(store: Store) -> None:
    store.put(b"a", b"1")
    response = store.delete_range(b"missing")
    assert (response.revision, response.deleted, store.revision) == (2, 0, 2)


def test_a_txn_changing_several_keys_uses_one_revision(store: Store) -> None:
    response = store.txn(success=[PutRequest(b"a", b"1"), PutRequest(b"b", b"2")])
    assert response.revision == 2
    assert store.range(b"a", b"c").kvs == (kv(b"a", 2, 2, 1, b"1"), kv(b"b", 2, 2, 1, b"2"))


def test_a_txn_that_changes_nothing_keeps_the_revision(store: Store) -> None:
    store.put(b"a", b"1")
    response = store.txn(success=[RangeRequest(b"a"), DeleteRangeRequest(b"zz")])
    assert (response.revision, store.revision) == (2, 2)


# ---- range ("API": Range) ---------------------------------------------------------------------

def _fill(store: Store) -> None:
    for key in (b"a", b"b/1", b"b/2", b"c"):
        store.put(key, key.upper())  # revisions 2, 3, 4, 5


def test_range_over_an_interval_a_prefix_from_a_key_and_all_keys(store: Store) -> None:
    _fill(store)
    keys = lambda response: [item.key for item in response.kvs]
    assert keys(store.range(b"a", b"b/2")) == [b"a", b"b/1"]
    assert keys(store.range(b"b/", prefix_end(b"b/"))) == [b"b/1", b"b/2"]
    assert keys(store.range(b"b/2", ALL_KEYS)) == [b"b/2", b"c"]
    assert keys(store.range(ALL_KEYS, ALL_KEYS)) == [b"a", b"b/1", b"b/2", b"c"]


def test_limit_sets_more_and_count_is_the_total(store: Store) -> None:
    _fill(store)
    response = store.range(ALL_KEYS, ALL_KEYS, limit=3)
    assert (len(response.kvs), response.count, response.more) == (3, 4, True)
    assert store.range(ALL_KEYS, ALL_KEYS, limit=4).more is False


def test_count_only_and_keys_only(store: Store) -> None:
    _fill(store)
    counted = store.range(ALL_KEYS, ALL_KEYS, count_only=True, limit=1)
    assert (counted.kvs, counted.count, counted.more) == ((), 4, False)
    assert store.range(b"a", keys_only=True).kvs == (kv(b"a", 2, 2, 1, b""),)


def test_range_at_a_past_revision_sees_the_keyspace_as_it_was(store: Store) -> None:
    store.put(b"a", b"1")  # 2
    store.put(b"a", b"2")  # 3
    store.delete_range(b"a")  # 4
    assert store.range(b"a", revision=2).kvs == (kv(b"a", 2, 2, 1, b"1"),)
    assert store.range(b"a", revision=3).kvs == (kv(b"a", 2, 3, 2, b"2"),)
    assert store.range(b"a", revision=4).kvs == ()
    assert store.range(b"a", revision=2).revision == 4  # the header is the current revision


def test_range_above_the_current_revision_is_a_future_revision(store: Store) -> None:
    store.put(b"a", b"1")
    with pytest.raises(ErrFutureRev, match="required revision is a future revision"):
        store.range(b"a", revision=3)


# ---- compaction ---------------------------------------------------------------------------------

def test_compaction_hides_older_revisions_but_keeps_the_compacted_one(store: Store) -> None:
    store.put(b"a", b"1")  # 2
    store.put(b"a", b"2")  # 3
    assert store.compact(3).revision == 3
    assert store.range(b"a", revision=3).kvs == (kv(b"a", 2, 3, 2, b"2"),)
    with pytest.raises(ErrCompacted) as raised:
        store.range(b"a", revision=2)
    assert str(raised.value) == "etcdserver: mvcc: required revision has been compacted"


def test_compacting_again_at_or_below_or_in_the_future_fails(store: Store) -> None:
    store.put(b"a", b"1")
    store.put(b"a", b"2")
    store.compact(2)
    for revision in (1, 2):
        with pytest.raises(ErrCompacted):
            store.compact(revision)
    with pytest.raises(ErrFutureRev):
        store.compact(4)
    assert store.compact_revision == 2


# ---- txn ("API": Txn) ---------------------------------------------------------------------------

def test_compares_on_each_target(store: Store) -> None:
    store.put(b"a", b"1")  # 2
    store.put(b"a", b"2")  # 3
    holds = lambda *compare: store.txn([Compare(*compare)]).succeeded
    assert holds(b"a", "VALUE", "EQUAL", b"2")
    assert holds(b"a", "VALUE", "GREATER", b"1")
    assert holds(b"a", "VERSION", "EQUAL", 2)
    assert holds(b"a", "CREATE", "EQUAL", 2)
    assert holds(b"a", "MOD", "LESS", 4)
    assert holds(b"a", "MOD", "NOT_EQUAL", 2)
    assert not holds(b"a", "VERSION", "GREATER", 2)


def test_a_missing_key_compares_as_zero_but_never_by_value(store: Store) -> None:
    assert store.txn([Compare(b"x", "VERSION", "EQUAL", 0)]).succeeded
    assert store.txn([Compare(b"x", "CREATE", "EQUAL", 0)]).succeeded
    assert not store.txn([Compare(b"x", "VALUE", "EQUAL", b"")]).succeeded
    assert not store.txn([Compare(b"x", "VALUE", "NOT_EQUAL", b"y")]).succeeded


def test_a_range_compare_must_hold_for_every_key(store: Store) -> None:
    store.put(b"p/1", b"1")
    store.put(b"p/2", b"2")
    assert store.txn([Compare(b"p/", "VERSION", "EQUAL", 1, prefix_end(b"p/"))]).succeeded
    assert not store.txn([Compare(b"p/", "VALUE", "EQUAL", b"1", prefix_end(b"p/"))]).succeeded


def test_failed_compares_run_the_failure_branch(store: Store) -> None:
    response = store.txn([Compare(b"a", "VERSION", "GREATER", 0)],
                         success=[PutRequest(b"a", b"s")], failure=[PutRequest(b"a", b"f")])
    assert (response.succeeded, response.revision) == (False, 2)
    assert store.range(b"a").kvs[0].value == b"f"


def test_txn_operations_see_earlier_writes_and_report_the_revision_they_saw(store: Store) -> None:
    store.put(b"a", b"1")  # 2
    response = store.txn(success=[
        RangeRequest(b"a"), DeleteRangeRequest(b"zz"), PutRequest(b"b", b"2"),
        RangeRequest(b"b"), DeleteRangeRequest(b"a", prev_kv=True)])
    assert [sub.revision for sub in response.responses] == [2, 2, 3, 3, 3]
    assert response.responses[3].kvs == (kv(b"b", 3, 3, 1, b"2"),)
    assert response.responses[4].prev_kvs == (kv(b"a", 2, 2, 1, b"1"),)


def test_a_branch_may_not_write_a_key_twice(store: Store) -> None:
    with pytest.raises(ErrDuplicateKey):
        store.txn(success=[PutRequest(b"a"), PutRequest(b"a")])
    with pytest.raises(ErrDuplicateKey):
        store.txn(failure=[DeleteRangeRequest(b"a", b"c"), PutRequest(b"b")])
    assert store.revision == 1


def test_a_delete_to_the_end_of_the_keyspace_does_not_count_as_overlapping(store: Store) -> None:
    store.put(b"b", b"old")  # 2
    store.txn(success=[DeleteRangeRequest(b"a", ALL_KEYS), PutRequest(b"b", b"new")])
    assert store.range(b"b").kvs == (kv(b"b", 3, 3, 1, b"new"),)


def test_ignore_value_after_a_delete_to_the_end_is_refused_up_front(store: Store) -> None:
    # Real etcd 3.5.1 panics on this txn; the reference answers ErrKeyNotFound, changing nothing.
    store.put(b"b", b"1")  # 2
    with pytest.raises(ErrKeyNotFound):
        store.txn(success=[DeleteRangeRequest(b"a", ALL_KEYS),
                           PutRequest(b"b", ignore_value=True)])
    assert (store.revision, store.range(b"b").kvs) == (2, (kv(b"b", 2, 2, 1, b"1"),))


def test_range_in_a_txn_is_checked_against_the_revision_the_txn_starts_from(store: Store) -> None:
    store.put(b"a", b"1")  # 2
    with pytest.raises(ErrFutureRev):
        store.txn(success=[PutRequest(b"b"), RangeRequest(b"b", revision=3)])
    assert store.revision == 2


def test_a_txn_checks_its_puts_before_its_ranges(store: Store) -> None:
    with pytest.raises(ErrKeyNotFound):
        store.txn(success=[RangeRequest(b"a", revision=5), PutRequest(b"b", ignore_value=True)])


def test_a_plain_put_checks_its_lease_first_a_txn_put_its_key_first(store: Store) -> None:
    with pytest.raises(ErrLeaseNotFound):
        store.put(b"missing", lease=42, ignore_value=True)
    with pytest.raises(ErrKeyNotFound):
        store.txn(success=[PutRequest(b"missing", lease=42, ignore_value=True)])


def test_too_many_operations(store: Store) -> None:
    with pytest.raises(ErrTooManyOps):
        store.txn(success=[RangeRequest(b"a")] * (MAX_TXN_OPS + 1))


# ---- put options and malformed requests --------------------------------------------------------

def test_ignore_value_keeps_the_value(store: Store) -> None:
    store.put(b"a", b"1")
    store.put(b"a", ignore_value=True)
    assert store.range(b"a").kvs == (kv(b"a", 2, 3, 2, b"1"),)


@pytest.mark.parametrize("request_, error", [
    (PutRequest(b"a", ignore_value=True), ErrKeyNotFound),
    (PutRequest(b"a", b"v", ignore_value=True), ErrValueProvided),
    (PutRequest(b"", b"v"), ErrEmptyKey),
    (RangeRequest(b""), ErrEmptyKey),
    (DeleteRangeRequest(b""), ErrEmptyKey),
    (PutRequest(b"a", lease=7), ErrLeaseNotFound),
])
def test_malformed_requests_fail_and_change_nothing(store: Store, request_, error) -> None:
    with pytest.raises(error) as raised:
        store.execute(request_)
    assert isinstance(raised.value, EtcdError)
    assert raised.value.message.startswith("etcdserver: ")
    assert store.revision == 1


# ---- watch ("API": Watch; "API guarantees") -----------------------------------------------------

def test_a_watch_from_a_past_revision_replays_then_follows(store: Store) -> None:
    store.put(b"a", b"1")  # 2
    store.txn(success=[PutRequest(b"b", b"2"), DeleteRangeRequest(b"a")])  # 3
    watcher = store.watch(b"a", b"z", start_revision=2)
    assert watcher.take() == [
        Event("PUT", kv(b"a", 2, 2, 1, b"1")),
        Event("PUT", kv(b"b", 3, 3, 1, b"2")),
        Event("DELETE", KeyValue(b"a", mod_revision=3)),
    ]
    store.put(b"c", b"3")  # 4
    store.put(b"zz", b"outside")  # 5
    assert watcher.take() == [Event("PUT", kv(b"c", 4, 4, 1, b"3"))]


def test_watch_prev_kv_is_the_state_before_and_never_set_on_a_creation(store: Store) -> None:
    store.put(b"a", b"1")  # 2
    store.put(b"a", b"2")  # 3
    store.delete_range(b"a")  # 4
    events = store.watch(b"a", start_revision=2, prev_kv=True).take()
    assert [event.prev_kv for event in events] == [
        None, kv(b"a", 2, 2, 1, b"1"), kv(b"a", 2, 3, 2, b"2")]


def test_a_watch_from_revision_zero_sees_only_new_events(store: Store) -> None:
    store.put(b"a", b"1")
    watcher = store.watch(b"a")
    assert watcher.take() == []
    store.put(b"a", b"2")
    assert [event.revision for event in watcher.take()] == [3]


def test_a_watch_from_a_compacted_revision_is_cancelled_not_started_later(store: Store) -> None:
    store.put(b"a", b"1")  # 2
    store.put(b"a", b"2")  # 3
    store.compact(3)
    watcher = store.watch(b"a", start_revision=2)
    assert (watcher.canceled, watcher.compact_revision, watcher.take()) == (True, 3, [])
    store.put(b"a", b"3")
    assert watcher.take() == []


def test_a_watch_at_the_compacted_revision_loses_its_deletions_and_prev_kvs(store: Store) -> None:
    store.put(b"a", b"1")  # 2
    store.txn(success=[PutRequest(b"b", b"2"), DeleteRangeRequest(b"a")])  # 3
    store.put(b"b", b"3")  # 4
    store.compact(3)
    events = store.watch(b"a", b"z", start_revision=3, prev_kv=True).take()
    assert events == [
        Event("PUT", kv(b"b", 3, 3, 1, b"2")),
        Event("PUT", kv(b"b", 3, 4, 2, b"3"), prev_kv=kv(b"b", 3, 3, 1, b"2")),
    ]


def test_cancel_watch_stops_delivery(store: Store) -> None:
    watcher = store.watch(b"a")
    store.cancel_watch(watcher)
    store.put(b"a", b"1")
    assert (watcher.canceled, watcher.compact_revision, watcher.take()) == (True, 0, [])


def test_prefix_end() -> None:
    assert prefix_end(b"a/") == b"a0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff") == ALL_KEYS
