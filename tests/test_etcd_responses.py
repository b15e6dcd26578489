"""The judge of KV-RESPONSE-MATCHES-MODEL and of KV-LINEARIZABLE's real-time half
(spec/kv/responses.py) on small histories written by hand: the committed log with when each entry
was first applied, and the calls with when they were invoked and completed (positions in the
client history) and what they were answered. Plus the same judge on whole runs of the cluster,
where a correct reference gives no complaint (a catalog bug's complaint on a whole run:
tests/test_etcd_scenario.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import checks.etcd.cluster as etcd_cluster
from checks.etcd.scenario import load, run
from impl.catalog import bug_by_name
from impl.etcd.messages import LeaseGrantRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest
from impl.etcd.types import DeleteRangeRequest, PutRequest, RangeRequest
from spec.kv.responses import ClientCall, CommittedEntry, Replay, ResponseJudge, judge, revoke_problems
from spec.kv.invariants import RESPONSES
from spec.kv.store_model import StoreModel

MODEL = StoreModel()
SCENARIOS = Path(__file__).parent / "scenarios"


def kv(key: bytes, create: int, mod: int, version: int, value: bytes, lease: int = 0) -> dict:
    return {"key": key, "create_revision": create, "mod_revision": mod, "version": version, "value": value,
            "lease": lease}


def put_event(key: bytes, create: int, mod: int, version: int, value: bytes, lease: int = 0) -> dict:
    return {"type": "PUT", "kv": kv(key, create, mod, version, value, lease)}


def entry(index: int, applied_after: int, request, origin, answer, events=()) -> CommittedEntry:
    return CommittedEntry(index, applied_after, request, origin, answer, tuple(events), repr(request))


def call(client: str, request_id: int, request, invoked: int, completed, answer) -> ClientCall:
    return ClientCall(client, request_id, request, invoked, completed, answer, repr(request))


def read_answer(revision: int, *kvs: dict) -> dict:
    return {"revision": revision, "kvs": tuple(kvs), "count": len(kvs), "more": False}


# c1 puts a=1 (revision 2) between history positions 0 and 1; c2 reads afterwards.
PUT = PutRequest(b"a", b"1")
PUT_ENTRY = entry(1, 1, PUT, ("c1", 1), {"revision": 2, "prev_kv": None}, [put_event(b"a", 2, 2, 1, b"1")])
PUT_CALL = call("c1", 1, PUT, 0, 1, {"revision": 2, "prev_kv": None})
READ = RangeRequest(b"a")


def test_a_correct_history_holds():
    fresh = call("c2", 1, READ, 2, 3, read_answer(2, kv(b"a", 2, 2, 1, b"1")))
    verdict = judge((PUT_ENTRY,), (PUT_CALL, fresh), MODEL)
    assert (verdict.mismatches, verdict.stale) == ([], [])


def test_a_wrong_field_is_a_mismatch_that_names_it():
    wrong = call("c2", 1, READ, 2, 3, read_answer(2, kv(b"a", 2, 2, 7, b"1")))
    verdict = judge((PUT_ENTRY,), (PUT_CALL, wrong), MODEL)
    assert verdict.stale == []
    (message,) = verdict.mismatches
    assert "response.kvs[0].version is 7, the model says 1" in message


def test_a_read_of_the_state_before_a_completed_write_is_stale():
    stale = call("c2", 1, READ, 2, 3, read_answer(1))  # invoked after the put completed
    verdict = judge((PUT_ENTRY,), (PUT_CALL, stale), MODEL)
    assert verdict.mismatches == []
    (message,) = verdict.stale
    assert "earlier state" in message and "revision 2" in message


def test_the_same_read_concurrent_with_the_write_may_see_either_state():
    for answer in (read_answer(1), read_answer(2, kv(b"a", 2, 2, 1, b"1"))):
        concurrent = call("c2", 1, READ, 0, 3, answer)
        verdict = judge((PUT_ENTRY,), (PUT_CALL, concurrent), MODEL)
        assert (verdict.mismatches, verdict.stale) == ([], [])


def test_a_serializable_read_may_be_stale_but_must_be_some_state():
    old = RangeRequest(b"a", serializable=True)
    assert judge((PUT_ENTRY,), (PUT_CALL, call("c2", 1, old, 2, 3, read_answer(1))), MODEL).stale == []
    never = call("c2", 1, old, 2, 3, read_answer(1, kv(b"a", 1, 1, 1, b"x")))
    assert len(judge((PUT_ENTRY,), (PUT_CALL, never), MODEL).mismatches) == 1


def test_an_answered_write_must_have_committed():
    answered = call("c1", 2, PutRequest(b"b", b"2"), 2, 3, {"revision": 3, "prev_kv": None})
    (message,) = judge((PUT_ENTRY,), (PUT_CALL, answered), MODEL).mismatches
    assert "never committed" in message


def test_a_write_whose_answer_was_lost_took_effect_where_the_log_says():
    unknown = call("c1", 1, PUT, 0, None, None)  # timed out: it may or may not have happened
    seen = call("c2", 1, READ, 5, 6, read_answer(2, kv(b"a", 2, 2, 1, b"1")))
    assert judge((PUT_ENTRY,), (unknown, seen), MODEL).mismatches == []
    phantom = call("c2", 1, READ, 5, 6, read_answer(2, kv(b"a", 2, 2, 1, b"1")))
    assert len(judge((), (unknown, phantom), MODEL).mismatches) == 1  # not in the log: never happened


def test_an_expiry_the_leader_decided_takes_effect_when_first_applied():
    grant = entry(1, 0, LeaseGrantRequest(10, 5), ("c1", 1), {"revision": 1, "id": 5, "ttl": 10})
    leased = PutRequest(b"k", b"v", lease=5)
    put = entry(2, 1, leased, ("c1", 2), {"revision": 2, "prev_kv": None}, [put_event(b"k", 2, 2, 1, b"v", 5)])
    expiry = entry(3, 4, LeaseRevokeRequest(5), None, {"revision": 3},
                   [{"type": "DELETE", "kv": kv(b"k", 0, 3, 0, b"")}])
    entries = (grant, put, expiry)
    before = call("c2", 1, RangeRequest(b"k"), 2, 3, read_answer(2, kv(b"k", 2, 2, 1, b"v", 5)))
    after = call("c2", 2, RangeRequest(b"k"), 4, 5, read_answer(2, kv(b"k", 2, 2, 1, b"v", 5)))
    assert judge(entries, (before,), MODEL).stale == []
    assert len(judge(entries, (after,), MODEL).stale) == 1  # invoked after the expiry applied
    gone = call("c2", 3, LeaseTimeToLiveRequest(5), 4, 5,
                {"revision": 3, "id": 5, "ttl": -1, "granted_ttl": 0, "keys": ()})
    assert judge(entries, (gone,), MODEL).mismatches == []


def test_an_entry_whose_events_are_not_the_models_is_reported():
    wrong = entry(1, 1, PUT, ("c1", 1), {"revision": 2, "prev_kv": None}, [put_event(b"a", 2, 2, 2, b"1")])
    (message,) = judge((wrong,), (), MODEL).mismatches
    assert "produced the events" in message


def test_a_revoke_must_delete_every_attached_key_in_one_revision():
    grant = entry(1, 0, LeaseGrantRequest(10, 5), None, {"revision": 1, "id": 5, "ttl": 10})
    puts = [entry(i, i, PutRequest(k, b"v", lease=5), None, {"revision": i, "prev_kv": None},
                  [put_event(k, i, i, 1, b"v", 5)]) for i, k in ((2, b"a"), (3, b"b"))]
    half = entry(4, 5, LeaseRevokeRequest(5), None, {"revision": 4}, [{"type": "DELETE", "kv": kv(b"a", 0, 4, 0, b"")}])
    (message,) = revoke_problems((grant, *puts, half), Replay(MODEL))
    assert "lease 5 had ['a', 'b'] attached" in message
    whole = entry(4, 5, LeaseRevokeRequest(5), None, {"revision": 4},
                  [{"type": "DELETE", "kv": kv(key, 0, 4, 0, b"")} for key in (b"a", b"b")])
    assert revoke_problems((grant, *puts, whole), Replay(MODEL)) == []


def test_judging_as_the_history_grows_gives_the_same_verdict():
    delete = DeleteRangeRequest(b"a")
    second = entry(2, 4, delete, ("c1", 2), {"revision": 3, "deleted": 1, "prev_kvs": ()},
                   [{"type": "DELETE", "kv": kv(b"a", 0, 3, 0, b"")}])
    calls = (PUT_CALL, call("c2", 1, READ, 2, 3, read_answer(2, kv(b"a", 2, 2, 1, b"1"))),
             call("c1", 2, delete, 3, 5, {"revision": 3, "deleted": 1, "prev_kvs": ()}),
             call("c2", 2, READ, 6, 7, read_answer(2, kv(b"a", 2, 2, 1, b"1"))))  # stale: after the delete
    whole = judge((PUT_ENTRY, second), calls, MODEL)
    growing = ResponseJudge(MODEL)
    growing.update((PUT_ENTRY,), calls[:2])
    assert growing.update((PUT_ENTRY, second), calls) == whole
    assert len(whole.stale) == 1 and whole.mismatches == []


# ---- on whole runs --------------------------------------------------------------------------------

def test_a_run_of_every_request_shape_gives_no_complaint():
    text = (SCENARIOS / "etcd-request-shapes.scenario").read_text()
    outcome = run(load(text, "shapes"))
    assert outcome.violation is None
    verdict = outcome.cluster.observation.judgement(outcome.cluster.log)
    assert (verdict.mismatches, verdict.stale) == ([], [])
    assert len(outcome.cluster.observation.entries) > 10


ONLY_THE_RESPONSE_CHECK_FINDS = [
    ("etcd-request-shapes", "range-count-after-limit"),
    ("etcd-request-shapes", "past-read-skips-deleted-keys"),
    ("etcd-request-shapes", "version-continues-after-recreate"),
    ("etcd-lease-end", "revoke-keeps-lease"),
]


@pytest.mark.parametrize(("scenario", "bug"), ONLY_THE_RESPONSE_CHECK_FINDS)
def test_without_the_response_check_these_bugs_go_unnoticed(monkeypatch, scenario, bug):
    """Why KV-RESPONSE-MATCHES-MODEL exists: each of these bugs answers a wrong field (a count,
    a past read, a version, a revoked lease) while every value read stays linearizable and every
    watch stays in order. With the check the scenario fails (test_etcd_scenario.py); without it,
    every other invariant holds."""
    without = tuple(i for i in etcd_cluster._CLIENT_INVARIANTS if i is not RESPONSES)
    monkeypatch.setattr(etcd_cluster, "_CLIENT_INVARIANTS", without)
    text = (SCENARIOS / f"{scenario}.scenario").read_text()
    outcome = run(load(text, scenario), bug_by_name(bug).override)
    assert outcome.violation is None, outcome.violation
