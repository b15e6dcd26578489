"""The replicated etcd reference through its harness (checks/etcd/cluster.py): members apply one
Raft log to their stores, reads go through ReadIndex, leases expire on the leader, watches resume
across members, and clients record what they could and could not learn. Every test drives a
small seeded cluster; the harness raises InvariantViolated if any invariant of spec/kv breaks."""

import pytest

from checks.etcd.cluster import EtcdCluster, EtcdOptions
from impl.catalog import bug_by_name
from impl.etcd.parts import EtcdParts
from impl.etcd.types import RangeRequest
from impl.sim.network import NetworkFaults

ELECTION_TICKS = 40  # comfortably more than the [10, 20) election timeout


def _cluster(seed: int, members: int = 3, clients: int = 2, parts: EtcdParts = EtcdParts(),
             faults: NetworkFaults = NetworkFaults(), check_quorum: bool = True) -> EtcdCluster:
    cluster = EtcdCluster(EtcdOptions(members, clients, seed, faults, check_quorum), parts)
    cluster.tick(ELECTION_TICKS)
    return cluster


def _leader(cluster: EtcdCluster) -> str:
    leaders = [m for m in cluster.member_ids if cluster.member(m) is not None and cluster.member(m).is_leader]
    assert len(leaders) == 1, leaders
    return leaders[0]


def _followers(cluster: EtcdCluster) -> list[str]:
    leader = _leader(cluster)
    return [m for m in cluster.member_ids if m != leader and cluster.member(m) is not None]


def _wait_idle(cluster: EtcdCluster, ticks_max: int = 120) -> None:
    """Tick until every client has its answer (settle also waits for watches to catch up)."""
    for _ in range(ticks_max):
        if all(cluster.client(c).idle for c in cluster.client_ids):
            return
        cluster.tick(1)
    raise AssertionError("a client never got an answer")


def _do(cluster: EtcdCluster, client: str, verb: str, *args: str, via: str | None = None):
    """One request, run to its end; returns the client's completion event for it."""
    assert cluster.client(client).idle
    cluster.request(client, verb, tuple(args), via)
    _wait_idle(cluster)
    return [e for e in cluster.log.history if e.process.split(".")[0] == client][-1]


def _value(cluster: EtcdCluster, member: str, key: str) -> str | None:
    response = cluster.member(member).store.execute(RangeRequest(key.encode(), serializable=True))
    return response.kvs[0].value.decode() if response.kvs else None


def _revisions(cluster: EtcdCluster) -> dict[str, int]:
    return {m: cluster.member(m).store.revision for m in cluster.member_ids if cluster.member(m) is not None}


def _catch_up(cluster: EtcdCluster) -> None:
    """Followers learn the commit index with the next heartbeat."""
    cluster.settle()
    cluster.tick(6)


def _completions(cluster: EtcdCluster, f: str | None = None) -> list:
    return [e for e in cluster.log.history if e.type != "invoke" and (f is None or e.f == f)]


def _events(responses) -> list[tuple[int, str, str]]:
    return [(e.revision, e.type, e.kv.key.decode()) for r in responses for e in r.events]


def _committed_events(cluster: EtcdCluster, member: str, prefix: str) -> list[tuple[int, str, str]]:
    return [(e.revision, e.type, e.kv.key.decode()) for change in cluster.member(member).applied_changes
            for e in change.events if e.kv.key.decode().startswith(prefix)]


# ----- 1. writes go through the leader; every store converges ----------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_put_through_a_follower_is_redirected_and_every_store_converges(seed):
    cluster = _cluster(seed)
    leader, follower = _leader(cluster), _followers(cluster)[0]
    first = _do(cluster, "c1", "put", "a", "1", via=follower)
    assert (first.type, first.f, first.value) == ("ok", "write", "1")
    assert cluster.client("c1").leader_guess == leader  # it followed the "not leader" hint
    assert any(f"{follower}->c1" in e.line() and "not leader" in e.line() for e in cluster.world.trace.events)
    assert _do(cluster, "c2", "put", "b", "2", via=_followers(cluster)[-1]).type == "ok"
    assert _do(cluster, "c1", "put", "a", "3").type == "ok"
    _catch_up(cluster)
    revisions = _revisions(cluster)
    assert set(revisions.values()) == {4}, revisions  # 1 (empty store) + three puts
    assert {(_value(cluster, m, "a"), _value(cluster, m, "b")) for m in cluster.member_ids} == {("3", "2")}
    # every member passed through the same revisions, entry by entry
    steps = {m: [(c.index, c.revision_after) for c in cluster.member(m).applied_changes] for m in cluster.member_ids}
    assert len({tuple(s) for s in steps.values()}) == 1, steps
    assert cluster.violation is None


# ----- 2. linearizable and serializable reads -----------------------------------------------

@pytest.mark.parametrize("seed", [1, 4, 7])
def test_linearizable_get_via_a_lagging_follower_returns_the_latest_value(seed):
    cluster = _cluster(seed)
    leader, follower = _leader(cluster), _followers(cluster)[0]
    assert _do(cluster, "c1", "put", "a", "old").type == "ok"
    _catch_up(cluster)
    cluster.partition([[leader], [follower]])  # only this link: the other follower makes the quorum
    assert _do(cluster, "c1", "put", "a", "new", via=leader).type == "ok"
    cluster.heal()
    # the write is acknowledged, but the follower has not applied it yet
    assert _value(cluster, follower, "a") == "old"
    read = _do(cluster, "c2", "get", "a", via=follower)
    assert (read.type, read.value, read.checked) == ("ok", "new", True)
    assert any(f"{follower}->" in e.line() and "ReadIndex?" in e.line() for e in cluster.world.trace.events)
    assert cluster.violation is None


@pytest.mark.parametrize("seed", [1, 5])
def test_cut_off_follower_may_serve_stale_serializable_reads_but_never_stale_linearizable(seed):
    cluster = _cluster(seed)
    leader, (cut, other) = _leader(cluster), _followers(cluster)
    assert _do(cluster, "c1", "put", "a", "1").type == "ok"
    _catch_up(cluster)
    cluster.partition([[cut, "c2"], [leader, other, "c1"]])
    assert _do(cluster, "c1", "put", "a", "2", via=leader).type == "ok"

    stale = _do(cluster, "c2", "get", "a", "serializable", via=cut)
    assert (stale.type, stale.value, stale.checked) == ("ok", "1", False)  # stale by design, exempt
    assert cluster.violation is None

    for _ in range(3):  # before and after the cut-off follower notices it has no leader
        read = _do(cluster, "c2", "get", "a", via=cut)
        assert read.type in ("info", "fail") or read.value == "2", read
        assert not (read.type == "ok" and read.value == "1")
        cluster.tick(10)

    cluster.heal()
    cluster.tick(40)
    fresh = _do(cluster, "c2", "get", "a", via=cut)
    assert (fresh.type, fresh.value) == ("ok", "2")
    assert cluster.violation is None


# ----- 3. a deposed leader ------------------------------------------------------------------

def _deposed_leader_read(parts: EtcdParts, seed: int = 2):
    """Without CheckQuorum, so that the cut-off leader keeps believing it leads (with it, the
    leader steps down within an election timeout: see the test after these)."""
    cluster = _cluster(seed, parts=parts, check_quorum=False)
    old, (f1, f2) = _leader(cluster), _followers(cluster)
    assert _do(cluster, "c1", "put", "a", "1").type == "ok"
    _catch_up(cluster)
    cluster.partition([[old, "c1"], [f1, f2, "c2"]])
    cluster.tick(40)
    new = next(m for m in (f1, f2) if cluster.member(m).is_leader)
    assert cluster.member(old).is_leader  # it has not heard of the new term
    assert _do(cluster, "c2", "put", "a", "2", via=new).type == "ok"
    cluster.request("c1", "get", ("a",), old)
    for _ in range(60):
        cluster.tick(1)
        if cluster.client("c1").idle:
            break
    return cluster, [e for e in cluster.log.history if e.process == "c1" and e.f == "read"][-1]


def test_deposed_leader_does_not_answer_a_linearizable_read():
    cluster, read = _deposed_leader_read(EtcdParts())
    assert read.type != "ok", read  # leadership is never confirmed while it is cut off
    assert cluster.violation is None


def test_deposed_leader_read_scenario_catches_a_leader_that_skips_the_quorum_check():
    """The same steps detect read-without-read-index: the test above can fail."""
    from checks.violation import InvariantViolated
    with pytest.raises(InvariantViolated) as caught:
        _deposed_leader_read(bug_by_name("read-without-read-index").override)
    assert caught.value.invariant.id == "KV-LINEARIZABLE"


def test_with_check_quorum_a_cut_off_leader_steps_down():
    cluster = _cluster(2)
    old, (f1, f2) = _leader(cluster), _followers(cluster)
    cluster.partition([[old, "c1"], [f1, f2, "c2"]])
    cluster.tick(40)
    assert not cluster.member(old).is_leader
    assert any(cluster.member(m).is_leader for m in (f1, f2))


# ----- 4. leases ----------------------------------------------------------------------------

def test_lease_without_keep_alive_expires_and_deletes_the_key_everywhere_once():
    cluster = _cluster(3)
    cluster.request("c2", "watch", ("k", "prefix"), _leader(cluster))
    cluster.tick(3)
    assert _do(cluster, "c1", "put", "k2", "plain").type == "ok"
    grant = _do(cluster, "c1", "lease-grant", "10")
    assert grant.type == "ok" and cluster.client("c1").lease_id != 0
    put = _do(cluster, "c1", "lease-put", "k1", "v")
    assert (put.type, put.checked) == ("ok", True)  # a lease-put is a write like any other
    cluster.tick(2)
    assert {_value(cluster, m, "k1") for m in cluster.member_ids} == {"v"}
    cluster.tick(40)
    assert {_value(cluster, m, "k1") for m in cluster.member_ids} == {None}
    assert {_value(cluster, m, "k2") for m in cluster.member_ids} == {"plain"}  # no lease, stays
    delivered = [e for s in cluster.log.streams if s.client == "c2" for e in _events(s.responses)]
    assert [e for e in delivered if e[2] == "k1" and e[1] == "DELETE"] == [(4, "DELETE", "k1")]
    assert delivered == [(2, "PUT", "k2"), (3, "PUT", "k1"), (4, "DELETE", "k1")]
    assert [e[1] for e in delivered if e[2] == "k1"] == ["PUT", "DELETE"]
    assert set(_revisions(cluster).values()) == {4}  # the revoke is one revision
    assert cluster.violation is None


def test_lease_kept_alive_survives_a_leader_crash():
    cluster = _cluster(3)
    ttl = 30
    assert _do(cluster, "c1", "lease-grant", str(ttl)).type == "ok"
    assert _do(cluster, "c1", "lease-put", "k1", "v").type == "ok"
    crashed = None
    start = cluster.world.now
    while cluster.world.now - start < 4 * ttl:
        if crashed is None and cluster.world.now - start > ttl:
            crashed = _leader(cluster)
            cluster.crash(crashed)
        leaders = [m for m in cluster.member_ids if cluster.member(m) is not None and cluster.member(m).is_leader]
        if leaders:
            renewed = _do(cluster, "c1", "keep-alive", via=leaders[0])
            assert renewed.type == "ok", renewed
        cluster.tick(5)
    assert crashed is not None and _leader(cluster) != crashed
    live = [m for m in cluster.member_ids if cluster.member(m) is not None]
    assert {_value(cluster, m, "k1") for m in live} == {"v"}
    assert not any(c.proposal is not None and c.proposal.client == "lease-expiry"
                   for m in live for c in cluster.member(m).applied_changes)
    assert cluster.violation is None


# ----- 5. watches ---------------------------------------------------------------------------

def test_watch_from_a_compacted_revision_is_canceled_with_compact_revision():
    cluster = _cluster(4)
    for value in "0123":
        assert _do(cluster, "c1", "put", "a", value).type == "ok"
    assert _do(cluster, "c1", "compact", "4").type == "ok"
    cluster.request("c2", "watch", ("a", "from=2"), None)
    cluster.tick(10)
    (stream,) = cluster.log.streams
    last = stream.responses[-1]
    assert last.canceled and last.compact_revision == 4
    assert _events(stream.responses) == []
    assert all(w.ended for w in cluster.client("c2").watches.values())
    cluster.tick(30)
    assert len(cluster.log.streams) == 1  # a compacted watch is over: no resumption
    assert cluster.violation is None


def test_watch_from_an_uncompacted_revision_replays_history():
    cluster = _cluster(4)
    for value in "012":
        assert _do(cluster, "c1", "put", "a", value).type == "ok"
    assert _do(cluster, "c1", "compact", "3").type == "ok"
    cluster.request("c2", "watch", ("a", "from=3"), None)
    cluster.tick(10)
    (stream,) = cluster.log.streams
    assert _events(stream.responses) == [(3, "PUT", "a"), (4, "PUT", "a")]
    assert not any(r.canceled for r in stream.responses)


@pytest.mark.parametrize("seed", [5, 6, 8])
def test_watch_resumes_after_its_member_crashes_with_every_event_once_in_order(seed):
    cluster = _cluster(seed)
    watched = _followers(cluster)[0]
    cluster.request("c2", "watch", ("k", "prefix"), watched)
    cluster.tick(3)
    for i in range(3):
        assert _do(cluster, "c1", "put", f"k{i}", str(i)).type == "ok"
    assert _do(cluster, "c1", "put", "other", "x").type == "ok"  # outside the watch
    cluster.crash(watched)
    for i in range(3, 6):
        assert _do(cluster, "c1", "put", f"k{i}", str(i)).type == "ok"
    assert _do(cluster, "c1", "delete", "k0").type == "ok"
    assert _do(cluster, "c1", "txn", "k7=a", "k8=b").type == "ok"
    cluster.tick(60)

    streams = [s for s in cluster.log.streams if s.client == "c2"]
    assert len(streams) >= 2 and streams[0].member == watched
    assert all(s.member != watched for s in streams[1:])
    assert len({s.logical for s in streams}) == 1
    delivered = _events(r for s in streams for r in s.responses)
    committed = _committed_events(cluster, _leader(cluster), "k")
    assert len(committed) == 9
    assert delivered == committed  # every event, once, in revision order
    # the txn's two events arrive in one response
    (txn_revision,) = {rev for rev, _, key in committed if key in ("k7", "k8")}
    carriers = [r for s in streams for r in s.responses if any(e.revision == txn_revision for e in r.events)]
    assert len(carriers) == 1 and len(carriers[0].events) == 2
    assert cluster.violation is None


def test_watch_on_a_member_that_loses_its_leader_is_canceled_and_resumed_elsewhere():
    cluster = _cluster(5)
    leader, (cut, other) = _leader(cluster), _followers(cluster)
    cluster.request("c2", "watch", ("k", "prefix"), cut)
    cluster.tick(3)
    assert _do(cluster, "c1", "put", "k1", "1").type == "ok"
    cluster.tick(3)
    cluster.partition([[cut], [leader, other, "c1", "c2"]])
    # c2 can no longer hear `cut`: its stream goes silent, c2 resumes elsewhere
    for i in range(2, 5):
        assert _do(cluster, "c1", "put", f"k{i}", str(i)).type == "ok"
    cluster.tick(60)
    streams = [s for s in cluster.log.streams if s.client == "c2"]
    assert len(streams) >= 2
    assert _events(r for s in streams for r in s.responses) == _committed_events(cluster, leader, "k")
    assert cluster.violation is None


def test_txn_events_arrive_in_one_response_with_prev_kv():
    cluster = _cluster(1)
    assert _do(cluster, "c1", "put", "k1", "a").type == "ok"
    cluster.request("c2", "watch", ("k", "prefix", "prev-kv"), None)
    cluster.tick(3)
    assert _do(cluster, "c1", "txn", "k1=b", "k2=c").type == "ok"
    cluster.tick(5)
    (stream,) = cluster.log.streams
    (response,) = [r for r in stream.responses if r.events]
    assert [(e.kv.key, e.kv.value, e.prev_kv.value if e.prev_kv else None) for e in response.events] == [
        (b"k1", b"b", b"a"), (b"k2", b"c", None)]
    assert cluster.violation is None


def test_progress_notification_waits_for_a_catching_up_watch():
    cluster = _cluster(7)
    for value in "01234":
        assert _do(cluster, "c1", "put", "a", value).type == "ok"
    cluster.request("c2", "watch", ("a", "from=2"), _leader(cluster))
    cluster.request("c2", "progress", (), None)
    cluster.tick(1)
    cluster.request("c2", "progress", (), None)
    cluster.tick(15)
    (stream,) = cluster.log.streams
    seen, progress = [], []
    for response in stream.responses:
        if response.progress:
            progress.append(response.header_revision)
            assert all(rev in seen for rev in range(2, response.header_revision + 1)), (seen, response)
        seen += [e.revision for e in response.events]
    assert seen == [2, 3, 4, 5, 6] and progress and max(progress) == 6
    assert cluster.violation is None


def test_resumed_watch_keeps_prev_kv():
    cluster = _cluster(5)
    watched = _followers(cluster)[0]
    assert _do(cluster, "c1", "put", "k1", "a").type == "ok"
    cluster.request("c2", "watch", ("k", "prefix", "prev-kv"), watched)
    cluster.tick(3)
    assert _do(cluster, "c1", "put", "k1", "b").type == "ok"
    cluster.crash(watched)
    assert _do(cluster, "c1", "put", "k1", "c").type == "ok"
    cluster.tick(60)
    streams = [s for s in cluster.log.streams if s.client == "c2"]
    assert len(streams) >= 2 and all(s.prev_kv for s in streams)
    events = [e for s in streams for r in s.responses for e in r.events]
    assert [(e.kv.value, e.prev_kv.value) for e in events] == [(b"b", b"a"), (b"c", b"b")]
    assert cluster.violation is None


# ----- 6. revisions -------------------------------------------------------------------------

def test_delete_of_a_missing_key_leaves_every_revision_and_a_txn_bumps_it_once():
    cluster = _cluster(2)
    assert _do(cluster, "c1", "put", "a", "1").type == "ok"
    _catch_up(cluster)
    before = _revisions(cluster)
    assert set(before.values()) == {2}
    assert _do(cluster, "c1", "delete", "missing").type == "ok"
    _catch_up(cluster)
    assert _revisions(cluster) == before
    assert _do(cluster, "c2", "txn", "x=1", "y=2").type == "ok"
    _catch_up(cluster)
    assert set(_revisions(cluster).values()) == {3}
    for m in cluster.member_ids:
        txn = cluster.member(m).applied_changes[-1]
        assert (txn.revision_before, txn.revision_after, len(txn.events)) == (2, 3, 2)
        assert {e.kv.mod_revision for e in txn.events} == {3}
    assert _do(cluster, "c1", "delete", "a").type == "ok"
    _catch_up(cluster)
    assert set(_revisions(cluster).values()) == {4}
    failed_cas = _do(cluster, "c1", "cas", "x", "nope", "z")
    _catch_up(cluster)
    assert failed_cas.type == "fail" and set(_revisions(cluster).values()) == {4}
    assert cluster.violation is None


def test_bumping_the_revision_on_a_noop_delete_is_caught():
    from checks.violation import InvariantViolated
    cluster = _cluster(2, parts=bug_by_name("revision-bump-on-noop-delete").override)
    with pytest.raises(InvariantViolated) as caught:
        _do(cluster, "c1", "delete", "missing")
    assert caught.value.invariant.id == "KV-REVISIONS"


# ----- 7. what clients record -----------------------------------------------------------------

@pytest.mark.parametrize("seed", [6, 9])
def test_put_whose_member_crashes_after_receiving_it_is_info_never_fail(seed):
    cluster = _cluster(seed)
    leader = _leader(cluster)
    cluster.request("c1", "put", ("a", "1"), leader)
    cluster.tick(2)  # delivered and proposed, not yet answered
    assert not cluster.client("c1").idle
    cluster.crash(leader)
    _wait_idle(cluster)
    (outcome,) = [e for e in _completions(cluster) if e.process == "c1"]
    assert outcome.type == "info"
    cluster.tick(40)
    # it may well have committed: "fail" would have been a lie
    assert {_value(cluster, m, "a") for m in cluster.member_ids if cluster.member(m) is not None} == {"1"}
    assert cluster.violation is None


def test_requests_without_a_leader_anywhere_never_succeed():
    cluster = EtcdCluster(EtcdOptions(3, 2, 6))
    cluster.partition([["n1"], ["n2"], ["n3"]])  # members cannot elect anyone; clients (in no group) reach all
    cluster.tick(60)
    assert all(cluster.member(m).raft.leader_id is None for m in cluster.member_ids)
    for verb, args in [("put", ("a", "1")), ("get", ("a",)), ("delete", ("a",)), ("cas", ("a", "-", "x")),
                       ("txn", ("a=1", "b=2")), ("compact", ("1",)), ("lease-grant", ("5",))]:
        _do(cluster, "c1", verb, *args)
    outcomes = [e.type for e in _completions(cluster)]
    assert len(outcomes) == 8  # the txn records one completion per key
    assert set(outcomes) <= {"fail", "info"} and "fail" in outcomes
    assert set(_revisions(cluster).values()) == {1}
    # a serializable read needs no leader: the empty store answers
    read = _do(cluster, "c2", "get", "a", "serializable")
    assert (read.type, read.value) == ("ok", None)
    assert cluster.violation is None


def test_request_to_a_crashed_member_is_info_and_the_client_recovers():
    cluster = _cluster(1)
    leader, follower = _leader(cluster), _followers(cluster)[0]
    cluster.crash(follower)
    cluster.request("c1", "put", ("a", "1"), follower)
    _wait_idle(cluster)
    assert [e.type for e in _completions(cluster)] == ["info"]
    assert _do(cluster, "c1", "put", "a", "2", via=leader).type == "ok"
    assert _do(cluster, "c2", "get", "a", via=leader).value == "2"


# ----- 8. determinism -----------------------------------------------------------------------

def _script(seed: int, faults: NetworkFaults) -> list[str]:
    cluster = EtcdCluster(EtcdOptions(3, 2, seed, faults))
    cluster.tick(30)
    cluster.request("c2", "watch", ("k", "prefix"), None)
    cluster.request("c1", "put", ("k1", "a"), "n2")
    cluster.tick(20)
    cluster.request("c1", "txn", ("k1=b", "k2=c"), None)
    cluster.request("c2", "get", ("k1",), "n3")
    cluster.tick(20)
    cluster.crash("n1")
    cluster.request("c1", "delete", ("k2",), None)
    cluster.tick(40)
    cluster.restart("n1")
    cluster.request("c2", "get", ("k2", "serializable"), "n1")
    cluster.settle()
    return [e.line() for e in cluster.world.trace.events]


@pytest.mark.parametrize("faults", [NetworkFaults(), NetworkFaults(1, 3, drop_rate=0.05)])
def test_same_commands_and_seed_give_identical_traces(faults):
    first = _script(11, faults)
    assert len(first) > 200
    assert _script(11, faults) == first
    if faults != NetworkFaults():
        assert _script(12, faults) != first  # the seed does matter


# ----- the harness --------------------------------------------------------------------------

def test_settle_returns_once_clients_are_idle_and_an_idle_watch_has_caught_up():
    """settle promises to tick "until every client has its answer and every watch has caught
    up"; a watch whose key has not changed has nothing to catch up on."""
    cluster = _cluster(3)
    cluster.request("c2", "watch", ("k", "prefix"), None)
    cluster.tick(3)
    assert _do(cluster, "c1", "put", "other", "x").type == "ok"  # not watched
    before = cluster.world.now
    cluster.settle()
    assert cluster.world.now - before < 50, cluster.world.now - before
