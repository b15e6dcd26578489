"""The Raft invariants of spec/raft on hand-built observations: each holds on a good history and
reports the violation on a crafted bad one."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest

from spec.raft import (INVARIANTS, LIVENESS, SAFETY, ClusterView, LivenessOutcome, NodeView, RaftHistory,
                       committed_durable, election_safety, leader_append_only, leader_completeness, liveness,
                       log_matching, state_machine_safety)

A, B, C, X = (1, "a"), (1, "b"), (1, "c"), (1, "x")


def node(node_id: str, log=(), role: str = "follower", term: int = 1, up: bool = True, durable=None,
         commit: int = 0) -> NodeView:
    log = tuple(log)
    return NodeView(node_id, up, role if up else "down", term, log, log if durable is None else tuple(durable),
                    commit)


def leader(node_id: str, log=(), term: int = 1, **kwargs) -> NodeView:
    return node(node_id, log, "leader", term, **kwargs)


def cluster(*nodes: NodeView, applies=()) -> ClusterView:
    return ClusterView(tuple(nodes), tuple(applies))


def judge(predicate: Callable, *views: ClusterView) -> list[list[str]]:
    """Record each view in turn, as the harness does, and collect what the predicate reports."""
    history, reports = RaftHistory(), []
    for view in views:
        history.record(view)
        reports.append(predicate(history, view))
    return reports


# ----- observations -------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "majority"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_cluster_view_majority(size, majority):
    assert cluster(*(node(f"n{i}") for i in range(size))).majority == majority


def test_cluster_view_leaders_are_live_nodes_in_the_leader_role():
    view = cluster(leader("n1"), node("n2"), node("n3", role="leader", up=False))
    assert [n.id for n in view.leaders()] == ["n1"]


def test_history_counts_an_entry_of_the_leaders_term_on_a_majority_as_committed_with_its_prefix():
    history = RaftHistory()
    history.record(cluster(leader("n1", [A, (2, "b")], term=2), node("n2", [A, (2, "b")]), node("n3")))
    assert history.committed == {1: (A, 2), 2: ((2, "b"), 2)}


def test_history_never_counts_replicas_of_an_earlier_terms_entry():
    history = RaftHistory()
    everywhere = [A, (2, "b")]
    history.record(cluster(leader("n1", everywhere, term=3), node("n2", everywhere), node("n3", everywhere)))
    assert history.committed == {}


def test_history_counts_only_entries_stored_on_a_majority():
    history = RaftHistory()
    history.record(cluster(leader("n1", [A, B]), node("n2", [A]), node("n3")))
    assert history.committed == {1: (A, 1)}


# ----- RAFT-ELECTION-SAFETY -----------------------------------------------------------------


def test_election_safety_holds_with_one_leader_per_term():
    reports = judge(election_safety,
                    cluster(leader("n1", term=1), node("n2"), node("n3")),
                    cluster(node("n1", term=2), leader("n2", term=2), node("n3", term=2)),
                    cluster(node("n1", term=2), leader("n2", term=2), node("n3", term=2)))
    assert reports == [[], [], []]


def test_election_safety_reports_two_leaders_of_one_term_at_different_times():
    reports = judge(election_safety,
                    cluster(leader("n1"), node("n2"), node("n3")),
                    cluster(node("n1", up=False), leader("n2"), node("n3")))
    assert reports == [[], ["term 1 has two leaders: n1, n2"]]


def test_election_safety_reports_two_leaders_of_one_term_at_once():
    reports = judge(election_safety, cluster(leader("n3"), leader("n2"), node("n1")))
    assert reports == [["term 1 has two leaders: n2, n3"]]


# ----- RAFT-LEADER-APPEND-ONLY --------------------------------------------------------------


def test_leader_append_only_holds_when_the_leader_only_appends():
    reports = judge(leader_append_only,
                    cluster(leader("n1", [A]), node("n2")),
                    cluster(leader("n1", [A, B]), node("n2")),
                    cluster(leader("n1", [A, B, C]), node("n2")))
    assert reports == [[], [], []]


def test_leader_append_only_reports_a_leader_overwriting_an_entry():
    reports = judge(leader_append_only,
                    cluster(leader("n1", [A, B]), node("n2")),
                    cluster(leader("n1", [A, X]), node("n2")))
    assert reports == [[], ["leader n1 (term 1) rewrote its log: ['1:a', '1:b'] became ['1:a', '1:x']"]]


def test_leader_append_only_reports_a_leader_deleting_an_entry():
    reports = judge(leader_append_only,
                    cluster(leader("n1", [A, B])),
                    cluster(leader("n1", [A])))
    assert reports[1] == ["leader n1 (term 1) rewrote its log: ['1:a', '1:b'] became ['1:a']"]


def test_leader_append_only_allows_a_new_term_to_start_from_a_different_log():
    reports = judge(leader_append_only,
                    cluster(leader("n1", [A, B], term=1)),
                    cluster(leader("n1", [A, (2, "")], term=2)))
    assert reports == [[], []]


# ----- RAFT-LOG-MATCHING --------------------------------------------------------------------


def test_election_safety_counts_a_server_elected_again_in_its_term_after_a_restart():
    # term-not-persisted: n1 restarts at term 0, campaigns into term 1 again and wins it again
    first = cluster(leader("n1", [A]), node("n2", [A]))
    again = cluster(attrs.evolve(leader("n1", [A]), incarnation=1), node("n2", [A]))
    assert judge(election_safety, first, again) == [[], ["term 1 has two leaders: n1, n1 after restart 1"]]


def test_log_matching_holds_when_logs_share_a_prefix_and_diverge_by_term():
    reports = judge(log_matching, cluster(node("n1", [A, B, (2, "c")]), node("n2", [A, (3, "d")]), node("n3")))
    assert reports == [[]]


def test_log_matching_reports_logs_that_share_an_index_and_term_but_differ_before_it():
    reports = judge(log_matching, cluster(node("n1", [A, (2, "b")]), node("n2", [X, (2, "b"), (2, "c")])))
    assert reports == [["n1 and n2 both hold an entry of term 2 at index 2 but their logs differ before it"]]


def test_log_matching_reports_entries_of_one_index_and_term_with_different_data():
    reports = judge(log_matching, cluster(node("n1", [A]), node("n2"), node("n3", [X])))
    assert reports == [["n1 and n3 both hold an entry of term 1 at index 1 but their logs differ before it"]]


def test_log_matching_reports_a_log_whose_terms_go_back():
    # keep-conflicting-tail leaves this: index 2 rewritten to term 3, the term-1 tail kept after it
    reports = judge(log_matching, cluster(node("n1", [A, (3, "x"), (1, "stale")]), node("n2", [A, (3, "x")])))
    assert reports == [["n1 holds an entry of term 1 at index 3 after one of term 3: the leader that created it "
                        "had a different entry at index 2"]]


def test_log_matching_reads_a_crashed_nodes_durable_log():
    view = cluster(node("n1", [A, (2, "b")]), node("n2", [X, (2, "b")], up=False))
    assert judge(log_matching, view) == [["n1 and n2 both hold an entry of term 2 at index 2 but their logs "
                                          "differ before it"]]


# ----- RAFT-LEADER-COMPLETENESS -------------------------------------------------------------


def _commit_a_in_term_1() -> ClusterView:
    return cluster(leader("n1", [A]), node("n2", [A]), node("n3"))


def test_leader_completeness_holds_when_later_leaders_keep_committed_entries():
    reports = judge(leader_completeness, _commit_a_in_term_1(),
                    cluster(node("n1", [A], term=2), leader("n2", [A, (2, "")], term=2), node("n3", term=2)))
    assert reports == [[], []]


def test_leader_completeness_reports_a_later_leader_lacking_a_committed_entry():
    reports = judge(leader_completeness, _commit_a_in_term_1(),
                    cluster(node("n1", [A], up=False), node("n2", [A], term=2), leader("n3", [(2, "")], term=2)))
    assert reports == [[], ["leader n3 of term 2 lacks entry 1=1:a, committed in term 1"]]


def test_leader_completeness_reports_a_later_leader_holding_a_different_entry_at_the_index():
    reports = judge(leader_completeness, _commit_a_in_term_1(),
                    cluster(node("n1", [A], term=2), node("n2", [A], term=2), leader("n3", [X], term=2)))
    assert reports[1] == ["leader n3 of term 2 lacks entry 1=1:a, committed in term 1"]


def test_leader_completeness_ignores_an_entry_that_was_never_committed():
    reports = judge(leader_completeness,
                    cluster(leader("n1", [A]), node("n2"), node("n3")),
                    cluster(node("n1", [A], term=2), leader("n2", [(2, "")], term=2), node("n3", term=2)))
    assert reports == [[], []]


# ----- RAFT-STATE-MACHINE-SAFETY ------------------------------------------------------------


def test_state_machine_safety_holds_when_every_node_applies_the_same_entry():
    nodes = (node("n1", [A]), node("n2", [A]))
    reports = judge(state_machine_safety, cluster(*nodes, applies=[("n1", 1, A)]),
                    cluster(*nodes, applies=[("n2", 1, A)]))
    assert reports == [[], []]


def test_state_machine_safety_reports_two_entries_applied_at_one_index_at_different_times():
    reports = judge(state_machine_safety,
                    cluster(node("n1", [A]), node("n2"), applies=[("n1", 1, A)]),
                    cluster(node("n1", [A]), node("n2", [X]), applies=[("n2", 1, X)]))
    assert reports == [[], ["n2 applied 1=1:x but n1 applied 1=1:a"]]


def test_state_machine_safety_reports_two_entries_applied_at_one_index_in_one_step():
    reports = judge(state_machine_safety,
                    cluster(node("n1", [A]), node("n2", [X]), applies=[("n1", 1, A), ("n2", 1, X)]))
    assert reports == [["n2 applied 1=1:x but n1 applied 1=1:a"]]


def test_state_machine_safety_reports_a_restarted_node_applying_something_else():
    reports = judge(state_machine_safety,
                    cluster(node("n1", [A]), applies=[("n1", 1, A)]),
                    cluster(node("n1", [(2, "")]), applies=[("n1", 1, (2, ""))]))
    assert reports[1] == ["n1 applied 1=2:noop but n1 applied 1=1:a"]


# ----- RAFT-COMMITTED-DURABLE ---------------------------------------------------------------


def test_committed_durable_holds_when_a_majority_has_synced_the_entry():
    reports = judge(committed_durable, cluster(leader("n1", [A]), node("n2", [A]), node("n3", durable=[])))
    assert reports == [[]]


def test_committed_durable_reports_a_committed_entry_on_fewer_than_a_majority_of_disks():
    reports = judge(committed_durable, cluster(leader("n1", [A]), node("n2", [A], durable=[]), node("n3")))
    assert reports == [["committed entry 1=1:a is on the disks of only ['n1']; a majority is 2"]]


def test_committed_durable_reports_a_committed_entry_on_no_disk():
    reports = judge(committed_durable,
                    cluster(leader("n1", [A], durable=[]), node("n2", [A], durable=[]), node("n3")))
    assert reports == [["committed entry 1=1:a is on the disks of only no node; a majority is 2"]]


def test_committed_durable_keeps_watching_after_the_leader_is_gone():
    reports = judge(committed_durable,
                    cluster(leader("n1", [A]), node("n2", [A]), node("n3")),
                    cluster(node("n1", [A], up=False), node("n2", [B], durable=[B]), node("n3")))
    assert reports == [[], ["committed entry 1=1:a is on the disks of only ['n1']; a majority is 2"]]


# ----- RAFT-LIVENESS ------------------------------------------------------------------------


def test_liveness_holds_when_the_proposal_is_applied_everywhere():
    assert liveness(LivenessOutcome(200, "n1", 5, ())) == []


def test_liveness_reports_no_leader():
    assert liveness(LivenessOutcome(200, None, None, ("n1", "n2", "n3"))) == [
        "no leader within 200 ticks of healing every fault"]


def test_liveness_reports_a_refused_proposal():
    assert liveness(LivenessOutcome(200, "n2", None, ("n1", "n2", "n3"))) == ["leader n2 did not accept a proposal"]


def test_liveness_reports_nodes_that_did_not_apply_the_proposal():
    assert liveness(LivenessOutcome(150, "n1", 7, ("n2", "n3"))) == [
        "proposal at index 7 (accepted by n1) not applied on n2, n3 within 150 ticks"]


# ----- the catalog --------------------------------------------------------------------------


def test_every_safety_invariant_has_a_predicate_and_liveness_is_judged_separately():
    assert [i.id for i in INVARIANTS] == [*(i.id for i in SAFETY), LIVENESS.id]
    assert len({i.id for i in INVARIANTS}) == 7
    assert all(callable(i.predicate) and i.area == "raft" and i.statement and i.source for i in SAFETY)
    assert LIVENESS.predicate is None
    assert [i.predicate for i in SAFETY] == [election_safety, leader_append_only, log_matching,
                                             leader_completeness, state_machine_safety, committed_durable]
