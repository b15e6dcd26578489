"""Leases in the reference store (impl/etcd): grant, keep-alive, revoke, time-to-live, list,
and expiry decided by the leader, with exact revisions. Time is integer ticks.

Rules from the etcd v3.5 "API" page (Lease API) and the lessor (server/lease/lessor.go); the
last section compares grant/attach/revoke effects and revisions with a real etcd through its
JSON gateway (expiry timing cannot be compared: etcd's clock is wall time).
"""

from __future__ import annotations

import base64

import pytest

from impl.etcd import (
    MAX_LEASE_TTL,
    MIN_LEASE_TTL,
    DeleteRangeRequest,
    ErrKeyNotFound,
    ErrLeaseExist,
    ErrLeaseNotFound,
    ErrLeaseTTLTooLarge,
    EtcdError,
    Event,
    KeyValue,
    LeaseGrantResponse,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseRevokeResponse,
    LeaseTimeToLiveResponse,
    PutRequest,
    RangeRequest,
    Store,
)
from checks.etcd.shapes import error_shape, response_shape
from impl.etcd.messages import LeaseGrantRequest, LeaseKeepAliveRequest, LeaseRevokeRequest
from spec.kv.store_model import StoreModel, StoreState, difference
from tests.etcd_server import running_etcd


@pytest.fixture
def store() -> Store:
    return Store()


def lease_of(store: Store, key: bytes) -> int:
    (kv,) = store.range(key).kvs
    return kv.lease


# ---- grant -----------------------------------------------------------------------------------

def test_grant_returns_id_and_ttl_and_changes_no_revision(store: Store) -> None:
    assert store.lease_grant(5, 10) == LeaseGrantResponse(1, 5, 10)
    assert store.revision == 1


def test_grant_with_id_zero_chooses_fresh_ids_deterministically(store: Store) -> None:
    store.lease_grant(1, 10)
    assert store.lease_grant(0, 10).id == 2
    assert store.lease_grant(0, 10).id == 3
    assert Store().lease_grant(0, 10).id == 1


def test_grant_of_an_existing_id_fails(store: Store) -> None:
    store.lease_grant(5, 10)
    with pytest.raises(ErrLeaseExist):
        store.lease_grant(5, 20)
    assert str(ErrLeaseExist()) == "etcdserver: lease already exists"


def test_ttl_below_the_minimum_is_raised_to_it(store: Store) -> None:
    assert store.lease_grant(5, 1).ttl == MIN_LEASE_TTL == 2
    assert store.lease_grant(6, 0).ttl == 2
    assert Store(min_lease_ttl=1).lease_grant(5, 1).ttl == 1


def test_ttl_above_the_maximum_fails(store: Store) -> None:
    assert store.lease_grant(5, MAX_LEASE_TTL).ttl == MAX_LEASE_TTL
    with pytest.raises(ErrLeaseTTLTooLarge):
        store.lease_grant(6, MAX_LEASE_TTL + 1)


# ---- attaching keys ----------------------------------------------------------------------------

def test_put_with_a_missing_lease_fails_and_changes_nothing(store: Store) -> None:
    with pytest.raises(ErrLeaseNotFound):
        store.put(b"a", lease=7)
    assert store.revision == 1
    assert str(ErrLeaseNotFound()) == "etcdserver: requested lease not found"


def test_put_with_a_lease_attaches_the_key(store: Store) -> None:
    store.lease_grant(5, 10)
    assert store.put(b"a", b"1", lease=5).revision == 2
    assert store.range(b"a").kvs == (KeyValue(b"a", 2, 2, 1, b"1", 5),)
    assert store.lease_time_to_live(5, keys=True).keys == (b"a",)


def test_put_without_lease_detaches_and_ignore_lease_keeps_it(store: Store) -> None:
    store.lease_grant(5, 10)
    store.put(b"a", lease=5)
    store.put(b"a", b"2", ignore_lease=True)
    assert lease_of(store, b"a") == 5
    store.put(b"a", b"3")
    assert lease_of(store, b"a") == 0
    assert store.lease_time_to_live(5, keys=True).keys == ()


def test_put_with_another_lease_moves_the_key(store: Store) -> None:
    store.lease_grant(5, 10)
    store.lease_grant(6, 10)
    store.put(b"a", lease=5)
    store.put(b"a", lease=6)
    assert store.lease_time_to_live(5, keys=True).keys == ()
    assert store.lease_time_to_live(6, keys=True).keys == (b"a",)


def test_deleting_a_key_detaches_it(store: Store) -> None:
    store.lease_grant(5, 10)
    store.put(b"a", lease=5)
    store.put(b"b", lease=5)
    store.delete_range(b"a")
    assert store.lease_time_to_live(5, keys=True).keys == (b"b",)
    assert store.lease_revoke(5).revision == 5  # deletes b only
    assert store.range(b"a", b"c").kvs == ()


def test_txn_put_with_a_lease_attaches_and_checks_the_key_first(store: Store) -> None:
    store.lease_grant(5, 10)
    store.txn(success=[PutRequest(b"a", lease=5), PutRequest(b"b", lease=5)])
    assert store.lease_time_to_live(5, keys=True).keys == (b"a", b"b")
    with pytest.raises(ErrKeyNotFound):  # ignore_value on a missing key, lease 9 missing too
        store.txn(success=[PutRequest(b"missing", lease=9, ignore_value=True)])
    with pytest.raises(ErrLeaseNotFound):  # a plain put looks at the lease first
        store.put(b"missing", lease=9, ignore_value=True)


def test_ignore_value_with_a_granted_lease_keeps_the_value(store: Store) -> None:
    store.put(b"a", b"v")
    store.lease_grant(5, 10)
    store.put(b"a", lease=5, ignore_value=True)
    assert store.range(b"a").kvs == (KeyValue(b"a", 2, 3, 2, b"v", 5),)


# ---- revoke ------------------------------------------------------------------------------------

def test_revoke_deletes_every_key_in_one_revision_in_key_order(store: Store) -> None:
    store.lease_grant(5, 10)
    store.put(b"c", b"3", lease=5)  # rev 2
    store.put(b"a", b"1", lease=5)  # rev 3
    store.put(b"b", b"2")  # rev 4, no lease
    watcher = store.watch(b"a", b"z", prev_kv=True)
    assert store.lease_revoke(5) == LeaseRevokeResponse(5)
    assert watcher.take() == [
        Event("DELETE", KeyValue(b"a", mod_revision=5), KeyValue(b"a", 3, 3, 1, b"1", 5)),
        Event("DELETE", KeyValue(b"c", mod_revision=5), KeyValue(b"c", 2, 2, 1, b"3", 5)),
    ]
    assert [kv.key for kv in store.range(b"a", b"z").kvs] == [b"b"]
    assert [kv.key for kv in store.range(b"a", b"z", revision=4).kvs] == [b"a", b"b", b"c"]


def test_revoke_of_a_lease_without_keys_changes_no_revision(store: Store) -> None:
    store.put(b"a")
    store.lease_grant(5, 10)
    assert store.lease_revoke(5) == LeaseRevokeResponse(2)
    assert store.revision == 2


def test_revoke_forgets_the_lease(store: Store) -> None:
    store.lease_grant(5, 10)
    store.lease_revoke(5)
    for call in (lambda: store.lease_revoke(5), lambda: store.put(b"a", lease=5),
                 lambda: store.lease_keep_alive(5, now=0)):
        with pytest.raises(ErrLeaseNotFound):
            call()
    assert store.lease_time_to_live(5) == LeaseTimeToLiveResponse(1, 5, -1)
    assert store.lease_grant(5, 10).id == 5  # the ID is free again


def test_a_past_watch_replays_a_revocation(store: Store) -> None:
    store.lease_grant(5, 10)
    store.put(b"a", lease=5)
    store.put(b"b", lease=5)
    store.lease_revoke(5)
    watcher = store.watch(b"a", b"c", start_revision=4)
    assert [(e.type, e.kv.key, e.revision) for e in watcher.take()] == [
        ("DELETE", b"a", 4), ("DELETE", b"b", 4)]


# ---- keep-alive, time-to-live, expiry ----------------------------------------------------------

def test_expiry_is_reported_at_the_deadline_not_before(store: Store) -> None:
    store.lease_grant(5, 10, now=100)
    assert store.expired_leases(109) == []
    assert store.expired_leases(110) == [5]


def test_keep_alive_renews_from_the_given_tick(store: Store) -> None:
    store.lease_grant(5, 10, now=0)
    assert store.lease_keep_alive(5, now=8) == LeaseKeepAliveResponse(1, 5, 10)
    assert store.expired_leases(17) == []
    assert store.expired_leases(18) == [5]


def test_keep_alive_of_an_expired_lease_fails(store: Store) -> None:
    store.lease_grant(5, 10, now=0)
    with pytest.raises(ErrLeaseNotFound):
        store.lease_keep_alive(5, now=10)
    with pytest.raises(ErrLeaseNotFound):
        store.lease_keep_alive(6, now=0)


def test_time_to_live_counts_down_in_ticks(store: Store) -> None:
    store.lease_grant(5, 10, now=3)
    store.put(b"k", lease=5)
    assert store.lease_time_to_live(5, keys=True, now=7) == LeaseTimeToLiveResponse(
        2, 5, 6, 10, (b"k",))
    assert store.lease_time_to_live(5, now=20).ttl == 0


def test_expired_leases_are_ordered_by_deadline_then_id(store: Store) -> None:
    store.lease_grant(9, 5, now=0)
    store.lease_grant(3, 10, now=0)
    store.lease_grant(4, 5, now=0)
    assert store.expired_leases(10) == [4, 9, 3]
    assert store.leases() == LeaseLeasesResponse(1, (4, 9, 3))


def test_the_leader_revokes_what_expired_and_keys_go_one_event_each(store: Store) -> None:
    store.lease_grant(1, 5, now=0)
    store.lease_grant(2, 50, now=0)
    store.put(b"x", lease=1)  # rev 2
    store.put(b"y", lease=1)  # rev 3
    store.put(b"z", lease=2)  # rev 4
    watcher = store.watch(b"x", b"\xff")
    for lease_id in store.expired_leases(6):
        store.lease_revoke(lease_id)
    assert store.revision == 5
    assert [(e.type, e.kv.key, e.revision) for e in watcher.take()] == [
        ("DELETE", b"x", 5), ("DELETE", b"y", 5)]
    assert store.expired_leases(6) == []
    assert store.leases().ids == (2,)


def test_a_follower_applying_the_same_log_reaches_the_same_state() -> None:
    leader, follower = Store(), Store()
    log = [lambda s: s.lease_grant(0, 5, now=0), lambda s: s.put(b"a", lease=1),
           lambda s: s.put(b"b", lease=1)]
    for entry in log:
        entry(leader)
        entry(follower)
    for lease_id in leader.expired_leases(5):
        leader.lease_revoke(lease_id)
        follower.lease_revoke(lease_id)
    assert leader.revision == follower.revision == 4
    everything = RangeRequest(b"\0", b"\0", revision=3)
    assert leader.execute(everything) == follower.execute(everything)


def test_promotion_restarts_every_deadline(store: Store) -> None:
    store.lease_grant(5, 10, now=0)
    store.lease_promote(now=100)
    assert store.expired_leases(109) == []
    assert store.expired_leases(110) == [5]


# ---- against a real etcd ------------------------------------------------------------------------

TTL = 600  # seconds on the real server: nothing expires during the test


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _revision(body: dict) -> int:
    return int(body.get("header", {}).get("revision", 0))


def _outcome(call):
    try:
        return call()
    except EtcdError as error:
        return error


def _grant(client, lease_id: int, ttl: int):
    body = client._post("/v3/lease/grant", {"ID": lease_id, "TTL": ttl})
    return LeaseGrantResponse(_revision(body), int(body["ID"]), int(body["TTL"]))


def _revoke(client, lease_id: int):
    return LeaseRevokeResponse(_revision(client._post("/v3/lease/revoke", {"ID": lease_id})))


def _keep_alive(client, lease_id: int):
    """One keep-alive over the gateway's stream. A missing lease answers TTL 0 there; the Go
    client's KeepAliveOnce turns that into ErrLeaseNotFound, as the store raises."""
    body = client._post("/v3/lease/keepalive", {"ID": lease_id})["result"]
    if int(body.get("TTL", 0)) <= 0:
        raise ErrLeaseNotFound()
    return LeaseKeepAliveResponse(_revision(body), int(body["ID"]), int(body["TTL"]))


def _time_to_live(client, lease_id: int):
    body = client._post("/v3/lease/timetolive", {"ID": lease_id, "keys": True})
    keys = tuple(sorted(base64.b64decode(key) for key in body.get("keys", [])))
    return (_revision(body), int(body["ID"]), int(body.get("grantedTTL", 0)), keys)


def _store_time_to_live(store: Store, lease_id: int):
    response = store.lease_time_to_live(lease_id, keys=True)
    return (response.revision, response.id, response.granted_ttl, response.keys)


SCRIPT = (
    ("grant", 6, 1), ("revoke", 6),  # TTL 1 is raised to 2; revoked before it can expire
    ("grant", 5, TTL), ("grant", 10, TTL), ("grant", 5, TTL), ("grant", 7, MAX_LEASE_TTL + 1),
    ("kv", PutRequest(b"c", b"3", lease=5)), ("kv", PutRequest(b"a", b"1", lease=5)),
    ("kv", PutRequest(b"b", b"2", lease=10)), ("kv", PutRequest(b"d", lease=9)),
    ("kv", PutRequest(b"b", b"2b", ignore_lease=True)), ("kv", PutRequest(b"e", lease=5)),
    ("kv", PutRequest(b"e")), ("kv", PutRequest(b"f", lease=5)),
    ("kv", DeleteRangeRequest(b"f")), ("ttl", 5), ("ttl", 10), ("ttl", 99),
    ("keep_alive", 5), ("keep_alive", 99),
    ("revoke", 5), ("revoke", 5), ("ttl", 5), ("keep_alive", 5), ("revoke", 99),
    ("grant", 8, TTL), ("revoke", 8), ("kv", RangeRequest(b"a", b"z")),
    ("kv", PutRequest(b"zz", b"v", ignore_lease=True)), ("kv", PutRequest(b"b", lease=10, ignore_lease=True)),
    ("kv", PutRequest(b"b", ignore_value=True, prev_kv=True)), ("kv", PutRequest(b"b", lease=5)),
)


def _step(target, step):
    """Run one scripted step on the store (target is a Store) or on the real server."""
    kind, *args = step
    local = isinstance(target, Store)
    if kind == "grant":
        return target.lease_grant(*args) if local else _grant(target, *args)
    if kind == "revoke":
        return target.lease_revoke(*args) if local else _revoke(target, *args)
    if kind == "keep_alive":
        return target.lease_keep_alive(*args, now=0) if local else _keep_alive(target, *args)
    if kind == "ttl":
        return _store_time_to_live(target, *args) if local else _time_to_live(target, *args)
    return target.execute(args[0])


_REQUESTS = {"grant": lambda lease_id, ttl: LeaseGrantRequest(ttl, lease_id), "revoke": LeaseRevokeRequest,
             "keep_alive": LeaseKeepAliveRequest, "kv": lambda request: request}


def _step_model(state: StoreState, step, real) -> StoreState:
    """The etcd model must give the real server's answer too (time-to-live is compared
    without its remaining TTL above, so it is left out here)."""
    kind, *args = step
    if kind not in _REQUESTS:
        return state
    answer = error_shape(real) if isinstance(real, EtcdError) else response_shape(real)
    outcome = StoreModel().step(state, _REQUESTS[kind](*args), answer)
    assert difference(outcome.expected, answer) is None, (step, difference(outcome.expected, answer))
    return outcome.state


def test_grant_attach_and_revoke_match_a_real_etcd() -> None:
    """Every response (revision, IDs, granted TTLs, attached keys, errors, kvs with their
    lease) and then the watch history with prev_kv. Remaining TTLs are never compared, and
    keep-alive only by its answer (the store's clock stays at tick 0)."""
    store, state = Store(), StoreState()
    with running_etcd() as client:
        for step in SCRIPT:
            real = _outcome(lambda: _step(client, step))
            assert _outcome(lambda: _step(store, step)) == real, step
            state = _step_model(state, step, real)
        expected = store.watch(b"a", b"z", start_revision=2, prev_kv=True).take()
        seen = client.watch(b"a", b"z", start_revision=2, prev_kv=True,
                            expected_events=len(expected))
        assert seen.events == tuple(expected)
