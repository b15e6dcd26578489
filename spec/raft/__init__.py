"""The Raft invariants: the five properties of the paper's Figure 3, that only committed entries
are applied, durability of committed entries across crashes, and what must hold once faults
stop: bounded progress, a stable leader, PreVote and CheckQuorum doing their jobs.

Each safety predicate takes ``(history, view)`` after the history has recorded the view; each
fault-free-phase predicate takes what that phase saw. Both return the violations they see as
messages (empty when the invariant holds).
"""

from __future__ import annotations

import bisect

from spec.invariant import Invariant
from spec.raft.observation import ClusterView, EntryView, LeaderWatch, LivenessOutcome, NodeView, RaftHistory, StepDown

__all__ = ["INVARIANTS", "SAFETY", "LIVENESS", "LEADER_STABLE", "PREVOTE_NO_DISRUPTION", "CHECKQUORUM_STEPDOWN",
           "FAULT_FREE", "ClusterView", "NodeView", "RaftHistory", "LivenessOutcome", "LeaderWatch", "StepDown", "EntryView",
           "liveness_bound_ticks", "ELECTION_TIMEOUTS_TO_ELECT", "STABLE_WINDOW_TIMEOUTS", "STEPDOWN_TIMEOUTS",
           "PREVOTE_ISOLATION_TIMEOUTS"]

# The bounds of the fault-free phase, in election timeouts (etcd-raft's electionTimeout ticks).
ELECTION_TIMEOUTS_TO_ELECT = 20  # several split votes on a perfect network
STABLE_WINDOW_TIMEOUTS = 4  # two of the longest randomized timeouts: any timer that is not reset fires
STEPDOWN_TIMEOUTS = 2  # a quorum check every timeout: the first may still count replies from before the cut
PREVOTE_ISOLATION_TIMEOUTS = 3  # long enough for the cut-off follower to time out and pre-campaign

PAPER = "Ongaro & Ousterhout, In Search of an Understandable Consensus Algorithm (2014)"


def _show(entry: EntryView) -> str:
    return f"{entry[0]}:{entry[1] or 'noop'}"


def election_safety(history: RaftHistory, view: ClusterView) -> list[str]:
    return [f"term {leader.term} has two leaders: {', '.join(sorted(history.leaders_by_term[leader.term]))}"
            for leader in view.leaders() if len(history.leaders_by_term[leader.term]) > 1][:1]


def leader_append_only(history: RaftHistory, view: ClusterView) -> list[str]:
    if history.previous is None:
        return []
    before = {n.id: n for n in history.previous.leaders()}
    problems = []
    for leader in view.leaders():
        old = before.get(leader.id)
        if old is not None and old.term == leader.term and leader.log[: len(old.log)] != old.log:
            problems.append(f"leader {leader.id} (term {leader.term}) rewrote its log: "
                            f"{[_show(e) for e in old.log]} became {[_show(e) for e in leader.log]}")
    return problems


def _term_goes_back(log: tuple[EntryView, ...]) -> int | None:
    """The first index whose entry has a lower term than the entry before it, if any."""
    for index in range(2, len(log) + 1):
        if log[index - 1][0] < log[index - 2][0]:
            return index
    return None


def log_matching(history: RaftHistory, view: ClusterView) -> list[str]:
    nodes = sorted(view.nodes, key=lambda n: n.id)
    for node in nodes:
        # Log Matching across time: the leader of the lower term that created the later entry
        # had a different entry before it, so two logs (its then, this one now) disagree.
        index = _term_goes_back(node.log)
        if index is not None:
            return [f"{node.id} holds an entry of term {node.log[index - 1][0]} at index {index} after one of "
                    f"term {node.log[index - 2][0]}: the leader that created it had a different entry at "
                    f"index {index - 1}"]
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            shared = min(len(a.log), len(b.log))
            for index in range(shared, 0, -1):
                if a.log[index - 1][0] == b.log[index - 1][0]:
                    if a.log[:index] != b.log[:index]:
                        return [f"{a.id} and {b.id} both hold an entry of term {a.log[index - 1][0]} at "
                                f"index {index} but their logs differ before it"]
                    break
    return []


def _first_difference(log: tuple[EntryView, ...], committed: tuple[EntryView, ...]) -> int | None:
    """The first index (1-based) of ``committed`` that ``log`` does not hold, if any."""
    if log[: len(committed)] == committed:
        return None
    return next(i for i in range(1, len(committed) + 1) if len(log) < i or log[i - 1] != committed[i - 1])


def leader_completeness(history: RaftHistory, view: ClusterView) -> list[str]:
    for leader in view.leaders():
        # committed in an earlier term than the leader's: a prefix, since commit terms never decrease
        owed = bisect.bisect_left(history.committed_terms, leader.term)
        index = _first_difference(leader.log, history.committed_log[:owed])
        if index is not None:
            entry, committed_term = history.committed[index]
            return [f"leader {leader.id} of term {leader.term} lacks entry {index}={_show(entry)}, "
                    f"committed in term {committed_term}"]
    return []


def state_machine_safety(history: RaftHistory, view: ClusterView) -> list[str]:
    for node_id, index, entry in view.new_applies:
        first, first_node = history.applied[index]
        if entry != first:
            return [f"{node_id} applied {index}={_show(entry)} but {first_node} applied {index}={_show(first)}"]
    return []


def applied_is_committed(history: RaftHistory, view: ClusterView) -> list[str]:
    if history.out_of_order is not None:
        node_id, index, expected = history.out_of_order
        return [f"{node_id} applied index {index} next, not {expected}: a state machine must run every committed "
                f"entry, in log order"]
    for node_id, index, entry in view.new_applies:
        committed = history.committed.get(index)
        if committed is None:
            holders = sorted(history.accepted.get((index, entry), ()))
            return [f"{node_id} applied {index}={_show(entry)}, which is not committed: in term {entry[0]} "
                    f"{'only ' + ', '.join(holders) if holders else 'no server'} accepted it, fewer than a "
                    f"majority ({view.majority})"]
        if committed[0] != entry:
            return [f"{node_id} applied {index}={_show(entry)} but the entry committed at index {index} "
                    f"(in term {committed[1]}) is {_show(committed[0])}"]
    return []


def committed_durable(history: RaftHistory, view: ClusterView) -> list[str]:
    committed = history.committed_log
    # Fast path: when every disk holds a prefix of the committed log, the majority-th longest
    # prefix tells at once how far a majority holds it.
    prefixes = sorted((_first_difference(n.durable_log, committed) or len(committed) + 1) - 1 for n in view.nodes)
    if prefixes[-view.majority] >= len(committed):
        return []
    for index in range(prefixes[-view.majority] + 1, len(committed) + 1):
        entry = committed[index - 1]
        holders = [n.id for n in view.nodes if len(n.durable_log) >= index and n.durable_log[index - 1] == entry]
        if len(holders) < view.majority:
            return [f"committed entry {index}={_show(entry)} is on the disks of only {holders or 'no node'}; "
                    f"a majority is {view.majority}"]
    return []


def liveness_bound_ticks(election_timeout_ticks: int, longest_log: int, terms_in_logs: int,
                         max_entries_per_message: int) -> int:
    """Ticks within which a healed cluster must elect a leader and apply a new entry everywhere:
    ELECTION_TIMEOUTS_TO_ELECT election timeouts, plus one round trip (2 ticks) per message needed
    to ship the longest log (and the new entry) at ``max_entries_per_message`` a message, plus one
    round trip per term in the logs (a follower's conflicting suffix is skipped a term at a time)."""
    messages = -(-(longest_log + 1) // max_entries_per_message)
    return ELECTION_TIMEOUTS_TO_ELECT * election_timeout_ticks + 2 * (messages + terms_in_logs)


def liveness(outcome: LivenessOutcome) -> list[str]:
    bound = f"{outcome.bound_ticks} ticks" + (f" ({outcome.bound_formula})" if outcome.bound_formula else "")
    if outcome.leader is None:
        return [f"no leader within {bound} of healing every fault"]
    if outcome.proposal_index is None:
        return [f"leader {outcome.leader} did not accept a proposal"]
    if outcome.missing:
        return [f"proposal at index {outcome.proposal_index} (accepted by {outcome.leader}) not applied on "
                f"{', '.join(outcome.missing)} within {bound}"]
    return []


def _leader_change(watch: LeaderWatch) -> str | None:
    if (watch.leader_after, watch.term_after) == (watch.leader, watch.term):
        return None
    after = f"{watch.leader_after} leads term {watch.term_after}" if watch.leader_after else \
        f"no server leads (highest term {watch.term_after})"
    return f"leader {watch.leader} of term {watch.term} was replaced: {watch.window_ticks} ticks later {after}"


def leader_stable(watch: LeaderWatch) -> list[str]:
    if watch.campaigners:
        return [f"{', '.join(watch.campaigners)} started an election within {watch.window_ticks} fault-free ticks "
                f"although leader {watch.leader} of term {watch.term} was heard by every server"]
    change = _leader_change(watch)
    return [change] if change else []


def prevote_no_disruption(watch: LeaderWatch) -> list[str]:
    change = _leader_change(watch)
    if change is None:
        return []
    return [f"{change}, after {watch.isolated} rejoined from a partition (PreVote on)"]


def checkquorum_stepdown(outcome: StepDown) -> list[str]:
    if outcome.stepped_down_after is not None:
        return []
    return [f"leader {outcome.leader} of term {outcome.term}, cut off from every other server, still leads "
            f"{outcome.bound_ticks} ticks later (CheckQuorum on)"]


SAFETY: tuple[Invariant, ...] = (
    Invariant(
        "RAFT-ELECTION-SAFETY", "raft",
        "At most one leader is elected in a given term (a server elected twice in one term, before and "
        "after a restart, counts twice).",
        f"{PAPER}, Figure 3", "Two leaders of one term can each commit a different entry at the same index.",
        election_safety),
    Invariant(
        "RAFT-LEADER-APPEND-ONLY", "raft",
        "A leader never overwrites or deletes entries in its own log; it only appends new ones.",
        f"{PAPER}, Figure 3", "The leader's log is the source of truth; rewriting it silently replaces "
        "what followers already acknowledged.", leader_append_only),
    Invariant(
        "RAFT-LOG-MATCHING", "raft",
        "If two logs contain an entry with the same index and term, the logs are identical in all "
        "entries up through that index (also across time: so terms never decrease along a log).",
        f"{PAPER}, Figure 3 and §5.3", "The consistency check of AppendEntries relies on it: matching one "
        "entry must mean matching the whole prefix.", log_matching),
    Invariant(
        "RAFT-LEADER-COMPLETENESS", "raft",
        "If an entry is committed in a given term, it is present in the logs of the leaders of all "
        "higher-numbered terms. (Committed: a majority of servers accepted it while in its term, or an entry "
        "after it is committed.)",
        f"{PAPER}, Figure 3 and §5.4", "A leader that lacks a committed entry will overwrite it everywhere.",
        leader_completeness),
    Invariant(
        "RAFT-STATE-MACHINE-SAFETY", "raft",
        "If a server has applied a log entry at a given index, no other server ever applies a different "
        "entry at that index (nor does the same server after a restart).",
        f"{PAPER}, Figure 3 and §5.4.3", "Replicas that apply different commands diverge: the store "
        "above them returns different data for the same revision.", state_machine_safety),
    Invariant(
        "RAFT-COMMITTED-DURABLE", "raft",
        "Every committed entry is on the synced disks of a majority of servers at every moment, so no "
        "combination of crashes can lose it.",
        f"{PAPER}, §5.1 and Figure 2 (persist before responding); etcd robustness tests (lost writes on kill)",
        "An acknowledged write that a crash can erase was never really committed.", committed_durable),
    Invariant(
        "RAFT-APPLIED-IS-COMMITTED", "raft",
        "A server applies the entry at an index only once that entry is committed, it applies exactly the "
        "committed entry, and it applies them in index order, none skipped. (Committed as the paper defines "
        "it: the leader of its term replicated it on a majority, that is a majority of servers accepted it "
        "while in that term; or an entry after it is committed. Checked at the moment of applying, not when "
        "a later leader overwrites it.)",
        f"{PAPER}, §5.3 and §5.4.2 (Figure 8); Figure 2, 'Rules for Servers' (apply committed entries)",
        "An entry applied before it is committed can still be overwritten by a later leader: the state machine "
        "has then executed a command the cluster never agreed on.", applied_is_committed),
)

LIVENESS = Invariant(
    "RAFT-LIVENESS", "raft",
    "Once faults stop (partitions healed, crashed servers restarted, no loss), there is a leader, and a "
    "proposal it accepts is applied on every server, within 20 election timeouts plus 2 ticks (one round "
    "trip) per message needed to ship the longest log at the per-message entry limit and per term in the "
    "logs: 20 x 10 + 2 x (ceil((longest log + 1) / max-entries) + terms) ticks. The same holds with as many "
    "followers down as a majority can spare: a new proposal is applied on every live server.",
    f"{PAPER}, §5.6 (timing and availability); MIT 6.5840 lab 3 agreement tests",
    "A cluster that is safe but never makes progress is down.", liveness)

LEADER_STABLE = Invariant(
    "RAFT-LEADER-STABLE", "raft",
    "On a fault-free network, once every server has received an AppendEntries of the leader of term T in "
    "term T (so each has heard from it), no server starts an election (turns pre-candidate or candidate, or "
    "raises its term) and the leader of term T keeps leading, through the time it takes every server to "
    f"apply a new entry and {STABLE_WINDOW_TIMEOUTS} election timeouts ({STABLE_WINDOW_TIMEOUTS} x 10 ticks) "
    "more.",
    f"{PAPER}, §5.2 (followers remain followers while they receive valid RPCs from a leader) and §9.3 "
    "(leader election should be rare); etcd-raft's tickElection",
    "An election stops all writes for at least a timeout; a follower that campaigns while the leader is "
    "healthy makes the cluster unavailable again and again for no reason.", leader_stable)

PREVOTE_NO_DISRUPTION = Invariant(
    "RAFT-PREVOTE-NO-DISRUPTION", "raft",
    "With PreVote on, a follower cut off from every other server for "
    f"{PREVOTE_ISOLATION_TIMEOUTS} election timeouts, while the others commit an entry it lacks, and then "
    "reconnected does not disturb a healthy leader: it cannot win a vote, so it must not raise anyone's term; "
    f"for {STABLE_WINDOW_TIMEOUTS} election timeouts after the heal, the same server leads in the same term. "
    "With CheckQuorum on as well, the same holds for a follower that missed nothing (its log is as good as "
    "the others'): a server that heard from the leader within an election timeout ignores its campaign.",
    "Ongaro, Consensus: Bridging Theory and Practice (2014), §9.6 (Preventing disruptions when a server "
    "rejoins the cluster) and §4.2.3 (a server that heard from a current leader within the minimum election "
    "timeout does not grant its vote); etcd-raft's PreVote and CheckQuorum (inLease)",
    "Without it, a server with a flaky link raises the term each time it comes back and forces an election "
    "that stops every write in the cluster.", prevote_no_disruption)

CHECKQUORUM_STEPDOWN = Invariant(
    "RAFT-CHECKQUORUM-STEPDOWN", "raft",
    f"With CheckQuorum on, a leader cut off from every other server steps down within {STEPDOWN_TIMEOUTS} "
    f"election timeouts ({STEPDOWN_TIMEOUTS} x 10 ticks) of the cut.",
    "Ongaro, Consensus: Bridging Theory and Practice (2014), §6.2 (a leader steps down if an election timeout "
    "elapses without a successful round of heartbeats to a majority); etcd-raft's checkQuorum",
    "A leader on the minority side of a partition that keeps believing it leads keeps taking requests it "
    "can never commit, and serves reads that leases or ReadIndex shortcuts may answer stale.",
    checkquorum_stepdown)

FAULT_FREE: tuple[Invariant, ...] = (LIVENESS, LEADER_STABLE, PREVOTE_NO_DISRUPTION, CHECKQUORUM_STEPDOWN)
INVARIANTS: tuple[Invariant, ...] = (*SAFETY, *FAULT_FREE)
