"""Tests of the sans-I/O Raft node, each named after the sentence of the Raft paper it checks
(Ongaro & Ousterhout 2014; PreVote and CheckQuorum from the Raft thesis §9.6 and etcd-raft),
in the manner of etcd-raft's raft_paper_test.go.

Most tests drive one RaftNode directly: build it on a Disk, feed it messages, and read the
messages in the Output it returns. Tests about a whole cluster use RaftCluster, which checks
every safety invariant after every change of state.
"""

from __future__ import annotations

import random

import pytest

from checks.raft.cluster import ClusterOptions, RaftCluster
from impl.raft.config import RaftConfig
from impl.raft.messages import Entry, Kind, Message
from impl.raft.node import RaftNode
from impl.raft.roles import IllegalTransition, Role, check_transition
from impl.raft.storage import LOG_LAST_KEY, TERM_KEY, VOTE_KEY, entry_key
from impl.sim.disk import Disk
from impl.sim.world import Output, World

IDS3 = ("n1", "n2", "n3")
IDS5 = ("n1", "n2", "n3", "n4", "n5")
TIMEOUT = RaftConfig().election_timeout_ticks


# ----- helpers ------------------------------------------------------------------------------


def disk_with(term: int = 0, vote: str | None = None, entries: list[tuple[int, str]] = ()) -> Disk:
    """A disk holding the hard state and log a node would recover after a crash."""
    disk = Disk()
    disk.write(TERM_KEY, term)
    disk.write(VOTE_KEY, vote)
    for index, (entry_term, data) in enumerate(entries, start=1):
        disk.write(entry_key(index), Entry(entry_term, data))
    disk.write(LOG_LAST_KEY, len(entries))
    disk.sync()
    return disk


def make_node(node_id: str = "n1", members: tuple[str, ...] = IDS3, disk: Disk | None = None,
              seed: int = 0, **config) -> RaftNode:
    return RaftNode(node_id, members, disk if disk is not None else Disk(), random.Random(seed),
                    RaftConfig(**config))


def persist(disk: Disk, out: Output) -> None:
    """What the world does with an Output before sending its messages."""
    for key, value in out.writes.items():
        disk.write(key, value)
    if out.sync:
        disk.sync()


def sent(out: Output, kind: str | None = None) -> list[tuple[str, Message]]:
    return [(dst, m) for dst, m in out.messages if kind is None or m.kind == kind]


def terms(node: RaftNode) -> list[int]:
    return [e.term for e in node.log.all()]


def make_leader(members: tuple[str, ...] = IDS3, disk: Disk | None = None, **config) -> RaftNode:
    """n1 campaigns and collects just enough votes to lead."""
    node = make_node("n1", members, disk, **config)
    node.campaign()
    for peer in node.peers[: node.quorum - 1]:
        node.step(peer, Message(Kind.VOTE_REPLY, node.term))
    assert node.role == Role.LEADER
    return node


def append(term: int, prev: int = 0, prev_term: int = 0, entries: list[tuple[int, str]] = (),
           commit: int = 0) -> Message:
    return Message(Kind.APPEND, term, index=prev, log_term=prev_term,
                   entries=tuple(Entry(t, d) for t, d in entries), commit=commit)


def log_of(node: RaftNode) -> list[tuple[int, str]]:
    return [(e.term, e.data) for e in node.log.all()]


# ----- §5.1 terms ---------------------------------------------------------------------------


def test_5_1_if_a_server_receives_an_append_with_a_stale_term_it_rejects_the_request():
    node = make_node(disk=disk_with(term=3, entries=[(1, "a")]))
    out = node.step("n2", append(2, prev=1, prev_term=1, entries=[(2, "x")], commit=1))
    assert sent(out) == [("n2", Message(Kind.APPEND_REPLY, 3, index=1, reject=True))]
    assert log_of(node) == [(1, "a")]
    assert (node.term, node.leader_id, node.commit_index) == (3, None, 0)


def test_5_1_a_leader_rejects_append_entries_from_a_deposed_leader_and_keeps_its_log():
    leader = make_leader(disk=disk_with(term=1, entries=[(1, "a")]))
    assert log_of(leader) == [(1, "a"), (2, "")]
    out = leader.step("n2", append(1, prev=1, prev_term=1, entries=[(1, "x")], commit=2))
    assert sent(out) == [("n2", Message(Kind.APPEND_REPLY, 2, index=1, reject=True))]
    assert (leader.role, leader.term, log_of(leader)) == (Role.LEADER, 2, [(1, "a"), (2, "")])
    assert leader.commit_index == 0


def test_5_1_if_a_server_receives_a_vote_request_with_a_stale_term_it_rejects_the_request():
    node = make_node(disk=disk_with(term=3))
    out = node.step("n2", Message(Kind.VOTE, 2, index=5, log_term=2))
    assert sent(out) == [("n2", Message(Kind.VOTE_REPLY, 3, reject=True))]
    assert node.voted_for is None


def test_5_1_replies_from_an_earlier_term_are_ignored():
    node = make_node(disk=disk_with(term=2))
    node.campaign()  # candidate of term 3
    out = node.step("n2", Message(Kind.VOTE_REPLY, 2))  # a grant, but for term 2
    assert node.role == Role.CANDIDATE
    assert node.votes == {"n1": True}
    assert sent(out) == []


def test_5_1_if_a_follower_sees_a_larger_term_it_updates_its_current_term():
    node = make_node(disk=disk_with(term=1, vote="n3"))
    out = node.step("n2", append(4))
    assert (node.term, node.voted_for, node.leader_id, node.role) == (4, None, "n2", Role.FOLLOWER)
    assert out.writes[TERM_KEY] == 4
    assert out.writes[VOTE_KEY] is None
    assert out.sync
    assert sent(out) == [("n2", Message(Kind.APPEND_REPLY, 4, index=0))]


def test_5_1_if_a_leader_discovers_a_larger_term_it_reverts_to_follower():
    leader = make_leader()
    assert leader.term == 1
    leader.step("n2", Message(Kind.APPEND_REPLY, 5, index=1, reject=True))
    assert (leader.role, leader.term, leader.leader_id, leader.voted_for) == (Role.FOLLOWER, 5, None, None)


def test_5_1_if_a_candidate_discovers_a_larger_term_it_reverts_to_follower():
    node = make_node()
    node.campaign()
    node.step("n2", Message(Kind.VOTE_REPLY, 3, reject=True))
    assert (node.role, node.term) == (Role.FOLLOWER, 3)


def test_5_1_a_vote_request_with_a_larger_term_is_granted_after_adopting_it():
    node = make_node(disk=disk_with(term=2, vote="n3"))  # voted in term 2: free again in term 3
    out = node.step("n2", Message(Kind.VOTE, 3))
    assert sent(out) == [("n2", Message(Kind.VOTE_REPLY, 3))]
    assert (node.term, node.voted_for) == (3, "n2")


# ----- §5.2 leader election -----------------------------------------------------------------


def test_5_2_if_a_follower_receives_no_communication_over_the_election_timeout_it_begins_an_election():
    node = make_node(disk=disk_with(term=1, entries=[(1, "a")]))
    timeout = node.randomized_timeout
    for _ in range(timeout - 1):
        assert sent(node.tick()) == []
    assert node.role == Role.FOLLOWER
    out = node.tick()
    assert (node.role, node.term, node.voted_for) == (Role.CANDIDATE, 2, "n1")
    assert sent(out) == [(peer, Message(Kind.VOTE, 2, index=1, log_term=1)) for peer in ("n2", "n3")]
    assert (out.writes[TERM_KEY], out.writes[VOTE_KEY], out.sync) == (2, "n1", True)


def test_5_2_election_timeouts_are_chosen_randomly_from_a_fixed_interval():
    # etcd-raft's range [electiontimeout, 2 * electiontimeout).
    seen = {make_node(seed=seed).randomized_timeout for seed in range(300)}
    assert seen == set(range(TIMEOUT, 2 * TIMEOUT))


def test_5_2_each_new_election_draws_a_new_randomized_timeout():
    node = make_node(seed=1)
    seen = set()
    for _ in range(40):
        node.campaign()
        seen.add(node.randomized_timeout)
    assert node.term == 40
    assert len(seen) > 3
    assert seen <= set(range(TIMEOUT, 2 * TIMEOUT))


def test_5_2_a_candidate_that_times_out_starts_a_new_election_with_a_higher_term():
    node = make_node()
    node.campaign()
    for _ in range(node.randomized_timeout - 1):
        node.tick()
    assert node.term == 1
    out = node.tick()
    assert (node.role, node.term) == (Role.CANDIDATE, 2)
    assert {dst for dst, _ in sent(out, Kind.VOTE)} == {"n2", "n3"}


def test_5_2_a_heartbeat_from_the_leader_resets_the_election_timer():
    node = make_node()
    for _ in range(node.randomized_timeout - 1):
        node.tick()
    node.step("n2", append(1))
    for _ in range(TIMEOUT - 1):  # the shortest possible new timeout, minus one
        node.tick()
    assert (node.role, node.term, node.leader_id) == (Role.FOLLOWER, 1, "n2")


def test_5_2_a_candidate_wins_an_election_if_it_receives_votes_from_a_majority():
    node = make_node("n1", IDS5)
    node.campaign()
    node.step("n2", Message(Kind.VOTE_REPLY, 1))
    assert node.role == Role.CANDIDATE  # 2 of 5
    out = node.step("n3", Message(Kind.VOTE_REPLY, 1))
    assert node.role == Role.LEADER  # 3 of 5
    assert node.leader_id == "n1"
    # It then sends heartbeats (here carrying its no-op) to every other server.
    assert [dst for dst, _ in sent(out, Kind.APPEND)] == ["n2", "n3", "n4", "n5"]
    assert all(m.term == 1 and m.entries == (Entry.noop(1),) for _, m in sent(out, Kind.APPEND))


def test_5_2_a_candidate_loses_once_a_majority_has_refused_it():
    node = make_node("n1", IDS5)
    node.campaign()
    node.step("n2", Message(Kind.VOTE_REPLY, 1, reject=True))
    node.step("n3", Message(Kind.VOTE_REPLY, 1, reject=True))
    assert node.role == Role.CANDIDATE  # two refusals of five: it may still win
    node.step("n4", Message(Kind.VOTE_REPLY, 1, reject=True))
    assert (node.role, node.term) == (Role.FOLLOWER, 1)


def test_5_2_a_single_server_cluster_elects_itself_and_commits_at_once():
    node = make_node("n1", ("n1",))
    node.campaign()
    assert node.role == Role.LEADER
    assert node.commit_index == 1
    _, index = node.propose("x")
    assert (index, node.commit_index) == (2, 2)
    assert node.applied == [(1, Entry.noop(1)), (2, Entry(1, "x"))]


def test_5_2_each_server_will_vote_for_at_most_one_candidate_in_a_given_term():
    node = make_node()
    assert sent(node.step("n2", Message(Kind.VOTE, 1))) == [("n2", Message(Kind.VOTE_REPLY, 1))]
    assert sent(node.step("n3", Message(Kind.VOTE, 1))) == [("n3", Message(Kind.VOTE_REPLY, 1, reject=True))]
    # A retransmitted request from the same candidate is granted again.
    assert sent(node.step("n2", Message(Kind.VOTE, 1))) == [("n2", Message(Kind.VOTE_REPLY, 1))]
    assert node.voted_for == "n2"


def test_5_2_a_candidate_votes_for_itself_and_refuses_a_rival_of_its_term():
    node = make_node()
    node.campaign()
    out = node.step("n2", Message(Kind.VOTE, 1))
    assert sent(out) == [("n2", Message(Kind.VOTE_REPLY, 1, reject=True))]
    assert node.voted_for == "n1"


def test_5_2_a_candidate_that_receives_append_entries_from_a_leader_of_its_term_becomes_follower():
    node = make_node()
    node.campaign()
    out = node.step("n2", append(1))
    assert (node.role, node.term, node.leader_id) == (Role.FOLLOWER, 1, "n2")
    assert sent(out) == [("n2", Message(Kind.APPEND_REPLY, 1, index=0))]


def test_5_2_a_candidate_rejects_append_entries_of_a_smaller_term_and_continues_as_candidate():
    node = make_node(disk=disk_with(term=1))
    node.campaign()
    out = node.step("n2", append(1))
    assert (node.role, node.term) == (Role.CANDIDATE, 2)
    assert sent(out) == [("n2", Message(Kind.APPEND_REPLY, 2, index=0, reject=True))]


def test_5_2_a_split_vote_elects_nobody_and_a_later_timeout_starts_a_new_term():
    cluster = RaftCluster(ClusterOptions(size=4, seed=3))
    cluster.campaign("n1")
    cluster.campaign("n2")
    cluster.on_link("deliver", "n1", "n3")  # n3 votes for n1 ...
    cluster.on_link("deliver", "n2", "n4")  # ... and n4 for n2: two votes each, three needed
    cluster.stabilize()
    nodes = cluster.world.nodes
    assert [(nodes[n].role, nodes[n].term) for n in ("n1", "n2")] == [(Role.CANDIDATE, 1)] * 2
    assert nodes["n1"].votes == {"n1": True, "n2": False, "n3": True, "n4": False}
    assert nodes["n2"].votes == {"n2": True, "n1": False, "n3": False, "n4": True}
    assert [nodes[n].voted_for for n in ("n3", "n4")] == ["n1", "n2"]
    for _ in range(2 * TIMEOUT * 3):
        cluster.tick()
        if any(node.role == Role.LEADER for node in nodes.values()):
            break
    leaders = [node for node in nodes.values() if node.role == Role.LEADER]
    assert len(leaders) == 1
    assert leaders[0].term >= 2


def test_5_2_a_role_change_outside_the_transition_table_is_refused():
    with pytest.raises(IllegalTransition, match="n1: illegal role transition leader -> candidate"):
        check_transition("n1", Role.LEADER, Role.CANDIDATE)
    with pytest.raises(IllegalTransition):
        check_transition("n1", Role.FOLLOWER, Role.LEADER)
    check_transition("n1", Role.CANDIDATE, Role.LEADER)  # allowed: no exception


# ----- §5.3 log replication -----------------------------------------------------------------


def test_5_3_a_leader_appends_a_proposal_and_sends_it_to_every_follower():
    leader = make_leader(max_entries_per_message=10)
    out, index = leader.propose("x")
    assert index == 2  # after the no-op
    assert log_of(leader) == [(1, ""), (1, "x")]
    appends = sent(out, Kind.APPEND)
    assert [dst for dst, _ in appends] == ["n2", "n3"]
    assert all(m.entries == (Entry.noop(1), Entry(1, "x")) and m.index == 0 for _, m in appends)
    assert out.writes[entry_key(2)] == Entry(1, "x") and out.sync


def test_5_3_a_follower_refuses_to_propose():
    node = make_node()
    out, index = node.propose("x")
    assert index is None
    assert node.log.last_index == 0
    assert sent(out) == []


def test_5_3_the_leader_commits_an_entry_once_a_majority_stores_it_and_followers_learn_the_commit_index():
    leader = make_leader(max_entries_per_message=10)
    leader.propose("x")
    assert leader.commit_index == 0
    leader.step("n2", Message(Kind.APPEND_REPLY, 1, index=2))
    assert leader.commit_index == 2
    assert leader.applied == [(1, Entry.noop(1)), (2, Entry(1, "x"))]
    follower = make_node("n3")
    follower.step("n1", append(1, entries=[(1, ""), (1, "x")], commit=2))
    assert follower.commit_index == 2
    assert follower.applied == leader.applied


def test_5_3_the_consistency_check_rejects_append_entries_when_prev_log_index_is_missing():
    node = make_node(disk=disk_with(term=1, entries=[(1, "a")]))
    out = node.step("n2", append(1, prev=3, prev_term=1, entries=[(1, "d")]))
    assert sent(out) == [("n2", Message(Kind.APPEND_REPLY, 1, index=3, reject=True, hint_index=1, hint_term=1))]
    assert log_of(node) == [(1, "a")]


@pytest.mark.parametrize(("prev_term", "hint"), [(3, (3, 2)), (1, (2, 1))])
def test_5_3_the_consistency_check_rejects_append_entries_when_prev_log_term_differs(prev_term, hint):
    node = make_node(disk=disk_with(term=3, entries=[(1, "a"), (1, "b"), (2, "c")]))
    out = node.step("n2", append(3, prev=3, prev_term=prev_term, entries=[(3, "d")]))
    assert sent(out) == [("n2", Message(Kind.APPEND_REPLY, 3, index=3, reject=True,
                                        hint_index=hint[0], hint_term=hint[1]))]
    assert terms(node) == [1, 1, 2]


def test_5_3_if_an_existing_entry_conflicts_with_a_new_one_it_and_all_that_follow_are_deleted():
    node = make_node(disk=disk_with(term=1, entries=[(1, "a"), (1, "b"), (1, "c")]))
    out = node.step("n2", append(2, prev=1, prev_term=1, entries=[(2, "x")]))
    assert log_of(node) == [(1, "a"), (2, "x")]
    assert sent(out) == [("n2", Message(Kind.APPEND_REPLY, 2, index=2))]
    assert out.writes[entry_key(2)] == Entry(2, "x")
    assert out.writes[LOG_LAST_KEY] == 2
    assert out.sync


def test_5_3_a_stale_append_entries_keeps_the_matching_entries_that_follow_it():
    node = make_node(disk=disk_with(term=1, entries=[(1, "a"), (1, "b"), (1, "c")]))
    out = node.step("n2", append(1, prev=0, prev_term=0, entries=[(1, "a")]))
    assert log_of(node) == [(1, "a"), (1, "b"), (1, "c")]
    assert sent(out) == [("n2", Message(Kind.APPEND_REPLY, 1, index=1))]
    assert out.writes == {} and not out.sync  # nothing changed, nothing to persist


def test_5_3_a_duplicate_append_entries_appends_nothing_twice():
    node = make_node()
    message = append(1, entries=[(1, "a"), (1, "b")])
    node.step("n2", message)
    node.step("n2", message)
    assert log_of(node) == [(1, "a"), (1, "b")]


def test_5_3_a_follower_commits_no_further_than_the_last_entry_the_append_verified():
    # Receiver rule 5: commitIndex = min(leaderCommit, index of last new entry). The entries
    # after prevLogIndex may be a stale tail the leader will overwrite.
    node = make_node(disk=disk_with(term=1, entries=[(1, "a"), (1, "b"), (1, "c")]))
    node.step("n2", append(2, prev=1, prev_term=1, commit=3))
    assert node.commit_index == 1
    assert node.applied == [(1, Entry(1, "a"))]


def test_5_3_after_a_rejection_the_leader_decrements_next_index_and_retries():
    leader = make_leader(disk=disk_with(term=1, entries=[(1, "a"), (1, "b")]))
    assert (leader.term, leader.next_index["n2"]) == (2, 3)
    out = leader.step("n2", Message(Kind.APPEND_REPLY, 2, index=2, reject=True, hint_index=1, hint_term=1))
    assert leader.next_index["n2"] == 2
    assert sent(out) == [("n2", append(2, prev=1, prev_term=1, entries=[(1, "b")]))]


def test_5_3_a_rejection_of_a_prev_log_index_no_longer_probed_is_ignored():
    leader = make_leader(disk=disk_with(term=1, entries=[(1, "a"), (1, "b")]))
    out = leader.step("n2", Message(Kind.APPEND_REPLY, 2, index=5, reject=True, hint_index=0, hint_term=0))
    assert leader.next_index["n2"] == 3
    assert sent(out) == []


def _exchange(leader: RaftNode, follower: RaftNode, out: Output, rounds_max: int = 20) -> None:
    """Deliver the leader's messages to one follower and its replies back, until quiet."""
    pending = [m for dst, m in out.messages if dst == follower.id]
    for _ in range(rounds_max):
        if not pending:
            return
        replies = [m for message in pending for _, m in follower.step(leader.id, message).messages]
        pending = [m for reply in replies for dst, m in leader.step(follower.id, reply).messages
                   if dst == follower.id]
    raise AssertionError("the exchange did not settle")


def test_5_3_a_duplicated_rejection_does_not_stop_the_leader_from_bringing_a_follower_up_to_date():
    # The network may deliver an old rejection again after the follower has caught up with it.
    leader = make_leader(disk=disk_with(term=1, entries=[(1, "a")]), noop_on_election=False)
    follower = make_node("n2", disk=disk_with(term=2))
    rejection = Message(Kind.APPEND_REPLY, 2, index=1, reject=True, hint_index=0, hint_term=0)
    _exchange(leader, follower, leader.step("n2", rejection))
    assert (leader.match_index["n2"], leader.next_index["n2"]) == (1, 2)
    _exchange(leader, follower, leader.step("n2", rejection))  # the same rejection, delivered twice
    out, _ = leader.propose("b")
    _exchange(leader, follower, out)
    for _ in range(3 * leader.config.heartbeat_ticks):
        _exchange(leader, follower, leader.tick())
    assert log_of(follower) == log_of(leader) == [(1, "a"), (2, "b")]
    assert leader.match_index["n2"] == 2


def _world_with_logs(logs: dict[str, tuple[int, list[tuple[int, str]]]], **config) -> World:
    """A world whose nodes start from the given (term, log) on disk."""
    raft_config = RaftConfig(**config)

    def factory(node_id, members, disk, rng):
        if disk.durable(TERM_KEY) is None:
            term, entries = logs[node_id]
            prepared = disk_with(term, None, entries)
            for key, value in prepared.durable_snapshot().items():
                disk.write(key, value)
            disk.sync()
        return RaftNode(node_id, members, disk, rng, raft_config)

    return World(tuple(logs), factory, seed=0)


def _stabilize(world: World, deliveries_max: int = 2000) -> None:
    for _ in range(deliveries_max):
        if not world.network.in_flight:
            return
        world.deliver(world.network.in_flight[0])
    raise AssertionError("messages still in flight")


@pytest.mark.parametrize("follower_log", [
    [(1, "a")] + [(2, f"old{i}") for i in range(60)],  # a long tail of a term the leader never had
    [(1, "a")],  # a follower that is simply far behind
])
def test_5_3_fast_backtracking_brings_a_long_conflicting_log_in_line_with_one_rejection(follower_log):
    leader_log = [(1, "a")] + [(3, f"new{i}") for i in range(50)]
    world = _world_with_logs({"n1": (3, leader_log), "n2": (3, follower_log), "n3": (3, leader_log)},
                             max_entries_per_message=8)
    world.apply("n1", world.nodes["n1"].campaign())
    _stabilize(world)
    leader, follower = world.nodes["n1"], world.nodes["n2"]
    assert (leader.role, leader.term) == (Role.LEADER, 4)
    rejections = [e for e in world.trace.events
                  if e.kind == "deliver" and e.node == "n2" and e.peer == "n1" and " reject " in e.detail
                  and e.detail.startswith(Kind.APPEND_REPLY)]
    assert len(rejections) == 1
    assert log_of(follower) == log_of(leader) == leader_log + [(4, "")]
    assert follower.commit_index == leader.commit_index == 52


# ----- §5.4.1 election restriction ----------------------------------------------------------


@pytest.mark.parametrize(("last_index", "last_term", "granted"), [
    (5, 1, False),  # longer, but its last term is older
    (1, 2, False),  # same last term, shorter
    (2, 2, True),  # same last term, same length
    (3, 2, True),  # same last term, longer
    (1, 3, True),  # later last term, shorter
])
def test_5_4_1_the_voter_denies_its_vote_if_its_own_log_is_more_up_to_date(last_index, last_term, granted):
    voter = make_node("n2", disk=disk_with(term=2, entries=[(1, "a"), (2, "b")]))
    out = voter.step("n1", Message(Kind.VOTE, 3, index=last_index, log_term=last_term))
    assert sent(out) == [("n1", Message(Kind.VOTE_REPLY, 3, reject=not granted))]
    assert voter.term == 3  # the higher term is adopted either way
    assert voter.voted_for == ("n1" if granted else None)


def test_5_4_1_a_server_missing_a_committed_entry_cannot_be_elected():
    cluster = RaftCluster(ClusterOptions(size=3, seed=0))
    cluster.campaign("n1")
    cluster.stabilize()
    cluster.partition([["n1", "n2"], ["n3"]])
    index = cluster.propose("n1", "x")
    cluster.stabilize()
    assert cluster.world.nodes["n1"].commit_index == index == 2
    cluster.crash("n1")
    cluster.heal()
    cluster.campaign("n3")
    cluster.stabilize()
    n2, n3 = cluster.world.nodes["n2"], cluster.world.nodes["n3"]
    assert n3.role != Role.LEADER
    assert n3.votes.get("n2") is False


# ----- §5.4.2 committing entries from previous terms ----------------------------------------


def test_5_4_2_raft_never_commits_entries_from_previous_terms_by_counting_replicas():
    disk = disk_with(term=2, entries=[(1, "a"), (2, "b")])
    leader = make_leader(disk=disk, noop_on_election=False)
    assert leader.term == 3
    leader.step("n2", Message(Kind.APPEND_REPLY, 3, index=2))
    leader.step("n3", Message(Kind.APPEND_REPLY, 3, index=2))
    assert leader.match_index == {"n2": 2, "n3": 2}  # on every server, and still ...
    assert leader.commit_index == 0  # ... not committed: it is of term 2
    assert leader.applied == []


def test_5_4_2_entries_of_previous_terms_commit_with_an_entry_of_the_current_term():
    disk = disk_with(term=2, entries=[(1, "a"), (2, "b")])
    leader = make_leader(disk=disk, noop_on_election=False)
    leader.step("n2", Message(Kind.APPEND_REPLY, 3, index=2))
    _, index = leader.propose("c")
    assert index == 3
    leader.step("n2", Message(Kind.APPEND_REPLY, 3, index=3))
    assert leader.commit_index == 3
    assert leader.applied == [(1, Entry(1, "a")), (2, Entry(2, "b")), (3, Entry(3, "c"))]


def test_5_4_2_the_no_op_of_a_new_leader_commits_the_entries_of_previous_terms():
    disk = disk_with(term=2, entries=[(1, "a"), (2, "b")])
    leader = make_leader(disk=disk)
    assert log_of(leader) == [(1, "a"), (2, "b"), (3, "")]
    leader.step("n2", Message(Kind.APPEND_REPLY, 3, index=3))
    assert leader.commit_index == 3


def test_5_4_2_a_stale_acknowledgement_does_not_count_for_entries_sent_since():
    leader = make_leader(max_entries_per_message=10)
    leader.propose("x")
    leader.step("n2", Message(Kind.APPEND_REPLY, 1, index=7))  # claims more than the log holds
    assert leader.match_index["n2"] == 2
    assert leader.commit_index == 2


# ----- persistence (Figure 2: persistent state on all servers) ------------------------------


def test_figure_2_a_vote_is_on_disk_before_the_grant_leaves():
    node = make_node()
    out = node.step("n2", Message(Kind.VOTE, 5))
    assert sent(out) == [("n2", Message(Kind.VOTE_REPLY, 5))]
    assert (out.writes[TERM_KEY], out.writes[VOTE_KEY], out.sync) == (5, "n2", True)


def test_figure_2_appended_entries_are_on_disk_before_the_acknowledgement_leaves():
    node = make_node()
    out = node.step("n2", append(1, entries=[(1, "a")]))
    assert sent(out) == [("n2", Message(Kind.APPEND_REPLY, 1, index=1))]
    assert (out.writes[entry_key(1)], out.writes[LOG_LAST_KEY], out.sync) == (Entry(1, "a"), 1, True)


def test_figure_2_current_term_voted_for_and_log_survive_a_crash_and_restart():
    disk = Disk()
    node = make_node(disk=disk)
    persist(disk, node.step("n2", Message(Kind.VOTE, 5)))
    persist(disk, node.step("n2", append(5, entries=[(3, "a"), (4, "b")])))
    persist(disk, node.step("n2", append(5, prev=1, prev_term=3, entries=[(5, "c")])))  # truncates b
    disk.crash()
    restarted = make_node(disk=disk)
    assert (restarted.term, restarted.voted_for) == (5, "n2")
    assert log_of(restarted) == [(3, "a"), (5, "c")]
    assert (restarted.role, restarted.commit_index, restarted.applied) == (Role.FOLLOWER, 0, [])
    # It remembers its vote: a rival of the same term is refused after the restart.
    out = restarted.step("n3", Message(Kind.VOTE, 5, index=9, log_term=5))
    assert sent(out) == [("n3", Message(Kind.VOTE_REPLY, 5, reject=True))]


def test_figure_2_a_cluster_restarted_from_its_disks_keeps_terms_and_committed_entries():
    cluster = RaftCluster(ClusterOptions(size=3, seed=4))
    cluster.campaign("n1")
    cluster.stabilize()
    cluster.propose("n1", "x")
    cluster.stabilize()
    before = {n: (cluster.world.nodes[n].term, log_of(cluster.world.nodes[n])) for n in cluster.ids}
    assert before["n1"] == (1, [(1, ""), (1, "x")])
    for node_id in cluster.ids:
        cluster.crash(node_id)
    for node_id in cluster.ids:
        cluster.restart(node_id)
    after = {n: (cluster.world.nodes[n].term, log_of(cluster.world.nodes[n])) for n in cluster.ids}
    assert after == before
    outcome = cluster.converge()
    assert outcome.missing == ()
    assert log_of(cluster.world.nodes[outcome.leader])[:2] == [(1, ""), (1, "x")]


# ----- PreVote (Raft thesis §9.6) -----------------------------------------------------------


def _isolate_n3_while_the_others_commit(pre_vote: bool) -> RaftCluster:
    cluster = RaftCluster(ClusterOptions(size=3, seed=5, pre_vote=pre_vote))
    cluster.campaign("n1")
    cluster.stabilize()
    cluster.partition([["n1", "n2"], ["n3"]])
    cluster.propose("n1", "while-away")
    cluster.tick(6 * TIMEOUT)
    return cluster


def test_9_6_with_pre_vote_a_partitioned_server_does_not_increase_its_term():
    cluster = _isolate_n3_while_the_others_commit(pre_vote=True)
    n3 = cluster.world.nodes["n3"]
    assert (n3.term, n3.role) == (1, Role.PRE_CANDIDATE)


def test_9_6_with_pre_vote_a_rejoining_server_does_not_disrupt_the_cluster():
    cluster = _isolate_n3_while_the_others_commit(pre_vote=True)
    cluster.heal()
    cluster.tick(6 * TIMEOUT)
    nodes = cluster.world.nodes
    assert [nodes[n].term for n in cluster.ids] == [1, 1, 1]
    assert [nodes[n].role for n in cluster.ids] == [Role.LEADER, Role.FOLLOWER, Role.FOLLOWER]
    assert nodes["n3"].leader_id == "n1"
    assert log_of(nodes["n3"]) == log_of(nodes["n1"])


def test_9_6_without_pre_vote_a_rejoining_server_forces_a_new_term():
    # The contrast that shows what PreVote buys.
    cluster = _isolate_n3_while_the_others_commit(pre_vote=False)
    assert cluster.world.nodes["n3"].term > 1
    cluster.heal()
    cluster.tick(6 * TIMEOUT)
    assert cluster.world.nodes["n1"].term > 1


def test_9_6_a_pre_vote_does_not_change_the_voters_term_or_vote():
    voter = make_node("n2", disk=disk_with(term=1, vote="n1", entries=[(1, "")]), pre_vote=True)
    out = voter.step("n3", Message(Kind.PRE_VOTE, 2, index=1, log_term=1))
    assert sent(out) == [("n3", Message(Kind.PRE_VOTE_REPLY, 2))]
    assert (voter.term, voter.voted_for) == (1, "n1")
    assert out.writes == {}


def test_9_6_a_pre_candidate_enters_the_new_term_only_after_a_majority_of_pre_votes():
    node = make_node(pre_vote=True)
    out = node.campaign()
    assert (node.role, node.term) == (Role.PRE_CANDIDATE, 0)
    assert sent(out) == [(p, Message(Kind.PRE_VOTE, 1)) for p in ("n2", "n3")]
    assert out.writes == {}
    out = node.step("n2", Message(Kind.PRE_VOTE_REPLY, 1))
    assert (node.role, node.term, node.voted_for) == (Role.CANDIDATE, 1, "n1")
    assert sent(out) == [(p, Message(Kind.VOTE, 1)) for p in ("n2", "n3")]


# ----- CheckQuorum (Raft thesis §6.2, etcd-raft) --------------------------------------------


def test_check_quorum_a_leader_cut_off_from_the_majority_steps_down_within_an_election_timeout():
    cluster = RaftCluster(ClusterOptions(size=3, seed=6, check_quorum=True))
    cluster.campaign("n1")
    cluster.stabilize()
    n1 = cluster.world.nodes["n1"]
    cluster.tick(TIMEOUT)  # the leader checks its quorum: it heard from both followers
    assert (n1.role, n1.election_elapsed) == (Role.LEADER, 0)
    cluster.partition([["n1"], ["n2", "n3"]])
    cluster.tick(TIMEOUT - 1)
    assert n1.role == Role.LEADER
    cluster.tick(1)
    assert (n1.role, n1.term, n1.leader_id) == (Role.FOLLOWER, 1, None)


def test_check_quorum_a_leader_that_hears_from_a_majority_keeps_leading():
    cluster = RaftCluster(ClusterOptions(size=3, seed=6, check_quorum=True))
    cluster.campaign("n1")
    cluster.stabilize()
    cluster.partition([["n1", "n2"], ["n3"]])
    cluster.tick(5 * TIMEOUT)
    n1 = cluster.world.nodes["n1"]
    assert (n1.role, n1.term) == (Role.LEADER, 1)


def test_check_quorum_a_follower_that_heard_from_its_leader_ignores_a_disrupting_vote_request():
    node = make_node("n2", check_quorum=True)
    node.step("n1", append(1))
    out = node.step("n3", Message(Kind.VOTE, 2))
    assert sent(out) == []
    assert (node.term, node.voted_for, node.leader_id) == (1, None, "n1")


# The Raft thesis §9.6 grants a pre-vote only "if the candidate's log is sufficiently up-to-date,
# and the voters have not received heartbeats from a valid leader for at least a baseline
# election timeout". The reference (like etcd-raft) applies the second condition only when
# CheckQuorum is on, so with PreVote alone a rejoining node with an up-to-date log can still win
# a pre-vote and force a new term (etcd-io/etcd#8498 discusses the two options together).
# The thesis (§9.6) has voters refuse a pre-vote while they hear from a leader. etcd-raft, which
# the reference follows, puts that lease check under CheckQuorum (raft.go, inLease), and its docs
# recommend enabling both; with PreVote alone, a voter that heard from a leader still grants.


def test_9_6_etcd_semantics_pre_vote_alone_grants_despite_a_live_leader():
    voter = make_node("n2", pre_vote=True)
    voter.step("n1", append(1, entries=[(1, "")]))
    out = voter.step("n3", Message(Kind.PRE_VOTE, 2, index=1, log_term=1))
    assert sent(out) == [("n3", Message(Kind.PRE_VOTE_REPLY, 2))]


def test_9_6_with_check_quorum_a_voter_that_hears_from_a_leader_ignores_a_pre_vote():
    voter = make_node("n2", pre_vote=True, check_quorum=True)
    voter.step("n1", append(1, entries=[(1, "")]))
    out = voter.step("n3", Message(Kind.PRE_VOTE, 2, index=1, log_term=1))
    assert sent(out) == []


def _rejoin_with_an_up_to_date_log(check_quorum: bool) -> RaftCluster:
    # Seed 0: n3 heals one tick before its election timer fires, before a heartbeat reaches it.
    cluster = RaftCluster(ClusterOptions(size=3, seed=0, pre_vote=True, check_quorum=check_quorum))
    cluster.campaign("n1")
    cluster.stabilize()
    cluster.partition([["n1", "n2"], ["n3"]])
    cluster.tick(50)
    n3 = cluster.world.nodes["n3"]
    assert (n3.role, n3.term, n3.randomized_timeout - n3.election_elapsed) == (Role.PRE_CANDIDATE, 1, 1)
    cluster.heal()
    cluster.tick(6 * TIMEOUT)
    return cluster


def test_9_6_etcd_semantics_pre_vote_alone_lets_a_timed_out_rejoiner_start_a_term():
    cluster = _rejoin_with_an_up_to_date_log(check_quorum=False)
    assert [cluster.world.nodes[n].term for n in cluster.ids] == [2, 2, 2]


def test_9_6_with_pre_vote_and_check_quorum_a_rejoining_server_with_an_up_to_date_log_does_not_disrupt():
    cluster = _rejoin_with_an_up_to_date_log(check_quorum=True)
    nodes = cluster.world.nodes
    assert [nodes[n].term for n in cluster.ids] == [1, 1, 1]
    assert nodes["n1"].role == Role.LEADER
