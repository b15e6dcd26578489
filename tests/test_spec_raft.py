"""The Raft invariants of spec/raft on hand-built observations: each holds on a good history and
reports the violation on a crafted bad one."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest

from spec.raft import (FAULT_FREE, INVARIANTS, LIVENESS, SAFETY, ClusterView, LeaderWatch, LivenessOutcome,
                       NodeView, RaftHistory, StepDown, applied_is_committed, checkquorum_stepdown,
                       committed_durable, election_safety, leader_append_only, leader_completeness,
                       leader_stable, liveness, liveness_bound_ticks, log_matching, prevote_no_disruption,
                       state_machine_safety)

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
    history.record(cluster(leader("n1", [A, (2, "b")], term=2), node("n2", [A, (2, "b")], term=2), node("n3")))
    assert history.committed == {1: (A, 2), 2: ((2, "b"), 2)}


def test_history_never_counts_replicas_of_an_earlier_terms_entry():
    history = RaftHistory()
    everywhere = [A, (2, "b")]
    history.record(cluster(leader("n1", everywhere, term=3), node("n2", everywhere, term=3),
                           node("n3", everywhere, term=3)))
    assert history.committed == {}


def test_history_counts_acceptances_made_at_different_times_even_after_the_leader_is_gone():
    history = RaftHistory()
    entry = (2, "b")
    history.record(cluster(leader("n1", [A, entry], term=2), node("n2", [A], term=2), node("n3", [A], term=2)))
    history.record(cluster(node("n1", [A, entry], term=3), node("n2", [A], term=3), node("n3", [A, entry], term=2)))
    assert history.committed == {1: (A, 2), 2: (entry, 2)}


def test_history_does_not_count_a_server_that_got_the_entry_in_a_later_term():
    history = RaftHistory()
    entry = (2, "b")
    history.record(cluster(leader("n1", [A, entry], term=2), node("n2", [A], term=2), node("n3", [A], term=3)))
    history.record(cluster(leader("n1", [A, entry], term=2), node("n2", [A], term=2),
                           node("n3", [A, entry], term=3)))
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


# ----- RAFT-APPLIED-IS-COMMITTED --------------------------------------------------------------


def test_applied_is_committed_holds_for_an_entry_a_leader_of_its_term_stored_on_a_majority():
    reports = judge(applied_is_committed,
                    cluster(leader("n1", [A]), node("n2", [A]), node("n3"), applies=[("n1", 1, A)]))
    assert reports == [[]]


def test_applied_is_committed_reports_figure8_an_earlier_term_entry_applied_by_counting():
    old = (2, "b")
    reports = judge(applied_is_committed,
                    cluster(leader("n1", [A]), node("n2", [A]), node("n3"), applies=[("n1", 1, A)]),
                    cluster(leader("n1", [A, old], term=2), node("n2", [A], term=2), node("n3", [A], term=2)),
                    cluster(leader("n1", [A, old], term=4), node("n2", [A, old], term=4), node("n3", [A], term=4),
                            applies=[("n1", 2, old)]))
    assert reports == [[], [], ["n1 applied 2=2:b, which is not committed: in term 2 only n1 accepted it, fewer than "
                                "a majority (2)"]]


def test_applied_is_committed_reports_an_entry_other_than_the_committed_one():
    reports = judge(applied_is_committed,
                    cluster(leader("n1", [A]), node("n2", [A]), node("n3", [B]), applies=[("n3", 1, B)]))
    assert reports == [["n3 applied 1=1:b but the entry committed at index 1 (in term 1) is 1:a"]]


def test_applied_is_committed_reports_a_server_that_skips_an_index():
    reports = judge(applied_is_committed,
                    cluster(leader("n1", [A, B]), node("n2", [A, B]), node("n3"), applies=[("n1", 2, B)]))
    assert reports == [["n1 applied index 2 next, not 1: a state machine must run every committed entry, "
                        "in log order"]]


def test_applied_is_committed_lets_a_restarted_server_apply_from_the_start_again():
    first = cluster(leader("n1", [A]), node("n2", [A]), node("n3"), applies=[("n1", 1, A), ("n2", 1, A)])
    restarted = cluster(leader("n1", [A]), attrs.evolve(node("n2", [A]), incarnation=1), node("n3"),
                        applies=[("n2", 1, A)])
    assert judge(applied_is_committed, first, restarted) == [[], []]


# ----- the fault-free phase -------------------------------------------------------------------


def test_liveness_bound_grows_with_the_entries_to_repair_and_the_terms_to_skip():
    assert liveness_bound_ticks(10, 0, 0, 1) == 202
    assert liveness_bound_ticks(10, 200, 2, 1) == 200 + 2 * (201 + 2)
    assert liveness_bound_ticks(10, 200, 2, 64) == 200 + 2 * (4 + 2)


def test_leader_stable_holds_when_nobody_campaigns_and_the_leader_stays():
    assert leader_stable(LeaderWatch("n1", 3, 40, "n1", 3)) == []


def test_leader_stable_reports_a_follower_that_campaigns_under_a_healthy_leader():
    assert leader_stable(LeaderWatch("n1", 3, 40, "n1", 3, ("n2",))) == [
        "n2 started an election within 40 fault-free ticks although leader n1 of term 3 was heard by every server"]


def test_prevote_no_disruption_reports_a_rejoining_node_that_replaces_the_leader():
    assert prevote_no_disruption(LeaderWatch("n1", 3, 40, "n1", 3, (), "n3")) == []
    assert prevote_no_disruption(LeaderWatch("n1", 3, 40, None, 5, (), "n3")) == [
        "leader n1 of term 3 was replaced: 40 ticks later no server leads (highest term 5), after n3 rejoined "
        "from a partition (PreVote on)"]


def test_checkquorum_stepdown_reports_a_cut_off_leader_that_still_leads():
    assert checkquorum_stepdown(StepDown("n1", 2, 20, 13)) == []
    assert checkquorum_stepdown(StepDown("n1", 2, 20, None)) == [
        "leader n1 of term 2, cut off from every other server, still leads 20 ticks later (CheckQuorum on)"]


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


def test_every_invariant_has_a_predicate_and_the_fault_free_ones_are_judged_separately():
    assert [i.id for i in INVARIANTS] == [*(i.id for i in SAFETY), *(i.id for i in FAULT_FREE)]
    assert len({i.id for i in INVARIANTS}) == 11
    assert all(callable(i.predicate) and i.area == "raft" and i.statement and i.source for i in INVARIANTS)
    assert FAULT_FREE[0] is LIVENESS
    assert [i.predicate for i in SAFETY] == [election_safety, leader_append_only, log_matching,
                                             leader_completeness, state_machine_safety, committed_durable,
                                             applied_is_committed]
