"""The etcd model of spec/kv/store_model.py: its answers to the cases a store gets wrong, and the
same answers, field for field and event for event, as the reference store on seeded random
sequences of every request (the reference itself is checked against a real etcd by
tests/test_etcd_differential.py, which also steps this model along)."""

from __future__ import annotations

import random

import pytest

from checks.etcd.shapes import error_shape, event_shape, response_shape
from impl.etcd import (
    Compare, DeleteRangeRequest, EtcdError, PutRequest, RangeRequest, Store, TxnRequest,
)
from impl.etcd.messages import (
    CompactionRequest, LeaseGrantRequest, LeaseKeepAliveRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest,
)
from spec.kv.store_model import AtLeast, FreeLeaseId, StoreModel, StoreState, describe, describe_answer, difference
from tests.test_etcd_differential import WEIGHTS, Generator

MODEL = StoreModel()


def run(requests, state: StoreState = StoreState()):
    """Step the model through ``requests``; the last outcome and the state after it."""
    outcome = None
    for request in requests:
        outcome = MODEL.step(state, request)
        state = outcome.state
    return outcome, state


def kv(key: bytes, create: int, mod: int, version: int, value: bytes, lease: int = 0) -> dict:
    return {"key": key, "create_revision": create, "mod_revision": mod, "version": version, "value": value,
            "lease": lease}


# ---- the answers a store gets wrong -----------------------------------------------------------

def test_a_key_deleted_and_created_again_starts_a_new_life():
    outcome, _ = run([PutRequest(b"a", b"1"), PutRequest(b"a", b"2"), DeleteRangeRequest(b"a"),
                      PutRequest(b"a", b"3"), RangeRequest(b"a")])
    assert outcome.expected["kvs"] == (kv(b"a", 5, 5, 1, b"3"),)
    assert outcome.expected["revision"] == 5


def test_a_range_with_a_limit_counts_the_whole_range():
    outcome, _ = run([TxnRequest((), tuple(PutRequest(k, b"v") for k in (b"a", b"b", b"c")), ()),
                      RangeRequest(b"a", b"z", limit=2)])
    assert [k["key"] for k in outcome.expected["kvs"]] == [b"a", b"b"]
    assert (outcome.expected["count"], outcome.expected["more"]) == (3, True)
    outcome, _ = run([PutRequest(b"a")], outcome.state)
    assert run([RangeRequest(b"a", b"z", count_only=True)], outcome.state)[0].expected == {
        "revision": 3, "kvs": (), "count": 3, "more": False}


def test_a_read_at_a_past_revision_sees_exactly_the_keys_alive_then():
    _, state = run([PutRequest(b"a", b"1"), PutRequest(b"b", b"2"), DeleteRangeRequest(b"a"),
                    PutRequest(b"c", b"3")])
    past = MODEL.step(state, RangeRequest(b"a", b"z", revision=3)).expected
    assert past["kvs"] == (kv(b"a", 2, 2, 1, b"1"), kv(b"b", 3, 3, 1, b"2"))
    assert past["revision"] == 5  # the header says where the store is now


def test_compaction_and_reads_below_and_beyond_it():
    _, state = run([PutRequest(b"a"), PutRequest(b"a"), PutRequest(b"a")])  # revision 4
    assert MODEL.step(state, CompactionRequest(5)).expected == {"error": "ErrFutureRev"}
    compacted = MODEL.step(state, CompactionRequest(3))
    assert compacted.expected == {"revision": 4}
    state = compacted.state
    assert MODEL.step(state, CompactionRequest(3)).expected == {"error": "ErrCompacted"}
    assert MODEL.step(state, RangeRequest(b"a", revision=2)).expected == {"error": "ErrCompacted"}
    assert MODEL.step(state, RangeRequest(b"a", revision=3)).expected["kvs"] == (kv(b"a", 2, 3, 2, b""),)
    assert MODEL.step(state, RangeRequest(b"a", revision=5)).expected == {"error": "ErrFutureRev"}


def test_lease_answers_before_and_after_revocation():
    grant = MODEL.step(StoreState(), LeaseGrantRequest(1))  # raised to the minimum TTL
    assert grant.expected == {"revision": 1, "id": FreeLeaseId(frozenset()), "ttl": 2}
    _, state = run([LeaseGrantRequest(10, 7), PutRequest(b"b", lease=7), PutRequest(b"a", lease=7)])
    assert MODEL.step(state, LeaseKeepAliveRequest(7)).expected == {"revision": 3, "id": 7, "ttl": 10}
    alive = MODEL.step(state, LeaseTimeToLiveRequest(7, keys=True)).expected
    assert (alive["ttl"], alive["granted_ttl"], alive["keys"]) == (AtLeast(0), 10, (b"a", b"b"))
    revoked = MODEL.step(state, LeaseRevokeRequest(7))
    assert revoked.expected == {"revision": 4}
    assert [(e["type"], e["kv"]["key"], e["kv"]["mod_revision"]) for e in revoked.events] == [
        ("DELETE", b"a", 4), ("DELETE", b"b", 4)]
    state = revoked.state
    assert MODEL.step(state, LeaseKeepAliveRequest(7)).expected == {"error": "ErrLeaseNotFound"}
    assert MODEL.step(state, LeaseTimeToLiveRequest(7)).expected == {
        "revision": 4, "id": 7, "ttl": -1, "granted_ttl": 0, "keys": ()}
    assert MODEL.step(state, PutRequest(b"c", lease=7)).expected == {"error": "ErrLeaseNotFound"}


def test_a_grant_with_id_zero_continues_from_the_id_the_server_chose():
    outcome = MODEL.step(StoreState(), LeaseGrantRequest(5), {"revision": 1, "id": 42, "ttl": 5})
    assert outcome.state.leases == ((42, 5),)
    assert difference(outcome.expected, {"revision": 1, "id": 42, "ttl": 5}) is None
    taken = MODEL.step(outcome.state, LeaseGrantRequest(5), {"revision": 1, "id": 42, "ttl": 5})
    assert difference(taken.expected, {"revision": 1, "id": 42, "ttl": 5}) == (
        "response.id is 42, the model says any unused lease ID")


def test_txn_sub_responses_read_the_writes_before_them():
    txn = TxnRequest((Compare(b"a", "VERSION", "EQUAL", 0),),
                     (RangeRequest(b"a"), PutRequest(b"a", b"1", prev_kv=True), RangeRequest(b"a", b"b")), ())
    outcome, _ = run([txn])
    first, put, after = outcome.expected["responses"]
    assert (first["revision"], first["count"]) == (1, 0)
    assert put == {"revision": 2, "prev_kv": None}
    assert (after["revision"], after["kvs"]) == (2, (kv(b"a", 2, 2, 1, b"1"),))
    assert (outcome.expected["revision"], outcome.expected["succeeded"]) == (2, True)


def test_difference_names_the_first_field_that_differs():
    expected = {"revision": 3, "kvs": (kv(b"a", 2, 3, 2, b"x"),), "count": 1, "more": False}
    actual = {"revision": 3, "kvs": (kv(b"a", 2, 3, 3, b"x"),), "count": 1, "more": False}
    assert difference(expected, actual) == "response.kvs[0].version is 3, the model says 2"
    assert difference(expected, dict(expected)) is None
    assert describe({"error": "ErrCompacted"}) == "{error='ErrCompacted'}"


# ---- the same answers as the reference store --------------------------------------------------

class LeaseGenerator(Generator):
    """The differential test's operations, plus leases: grants, revokes, keep-alives,
    time-to-live, and puts attaching keys (the store's clock stays at tick 0, so no lease
    expires on its own)."""

    def lease_id(self) -> int:
        return self.rng.choice([0, 1, 2, 3])

    def lease(self):
        kind = self.rng.choice(["grant", "grant", "revoke", "keep", "ttl", "put", "put"])
        if kind == "grant":
            return LeaseGrantRequest(self.rng.choice([1, 5, 10]), self.lease_id())
        if kind == "put":
            return PutRequest(self.key(), b"v", lease=self.lease_id(), prev_kv=self.rng.random() < 0.5)
        if kind == "ttl":
            return LeaseTimeToLiveRequest(self.lease_id(), self.rng.random() < 0.5)
        return {"revoke": LeaseRevokeRequest, "keep": LeaseKeepAliveRequest}[kind](self.lease_id())


def _store_answer(store: Store, request) -> dict:
    name = type(request).__name__
    try:
        if name == "CompactionRequest":
            return response_shape(store.compact(request.revision))
        if name == "LeaseGrantRequest":
            return response_shape(store.lease_grant(request.id, request.ttl, now=0))
        if name == "LeaseRevokeRequest":
            return response_shape(store.lease_revoke(request.id))
        if name == "LeaseKeepAliveRequest":
            return response_shape(store.lease_keep_alive(request.id, now=0))
        if name == "LeaseTimeToLiveRequest":
            return response_shape(store.lease_time_to_live(request.id, request.keys, now=0))
        return response_shape(store.execute(request))
    except EtcdError as error:
        return error_shape(error)


@pytest.mark.parametrize("seed", range(6))
def test_the_model_answers_as_the_reference_store(seed):
    rng = random.Random(seed)
    store, state = Store(), StoreState()
    generator = LeaseGenerator(rng, f"m{seed}/".encode(), store)
    tap = store.watch(b"\0", b"\0")
    kinds = [k for k in WEIGHTS if k != "watch"] + ["lease"]
    weights = [WEIGHTS[k] for k in kinds[:-1]] + [25]
    for index in range(400):
        kind = rng.choices(kinds, weights)[0]
        request = CompactionRequest(generator.compaction_revision()) if kind == "compact" else \
            getattr(generator, kind)()
        answer = _store_answer(store, request)
        outcome = MODEL.step(state, request, answer)
        assert difference(outcome.expected, answer) is None, (seed, index, request, difference(outcome.expected, answer))
        assert tuple(event_shape(e) for e in tap.take()) == outcome.events, (seed, index, request)
        state = outcome.state


def test_a_read_answer_reads_as_what_the_client_saw():
    """Reports name a stale read's answer as a learner reads it, not as the dict it is."""
    assert describe_answer({"revision": 1, "kvs": (), "count": 0, "more": False}) == "not found rev=1"
    kvs = ({"key": b"k/a", "value": b"1"}, {"key": b"k/b", "value": b"2"})
    assert describe_answer({"revision": 7, "kvs": kvs, "count": 3, "more": True}) == "k/a=1 k/b=2 rev=7 count=3 more"
