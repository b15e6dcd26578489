"""The Raft invariants: the five properties of the paper's Figure 3, durability of committed
entries across crashes, and bounded liveness after faults stop.

Each predicate takes ``(history, view)`` after the history has recorded the view, and returns
the violations it sees as messages (empty when the invariant holds).
"""

from __future__ import annotations

import bisect

from spec.invariant import Invariant
from spec.raft.observation import ClusterView, EntryView, LivenessOutcome, NodeView, RaftHistory

__all__ = ["INVARIANTS", "SAFETY", "LIVENESS", "ClusterView", "NodeView", "RaftHistory", "LivenessOutcome",
           "EntryView"]

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


def liveness(outcome: LivenessOutcome) -> list[str]:
    if outcome.leader is None:
        return [f"no leader within {outcome.bound_ticks} ticks of healing every fault"]
    if outcome.proposal_index is None:
        return [f"leader {outcome.leader} did not accept a proposal"]
    if outcome.missing:
        return [f"proposal at index {outcome.proposal_index} (accepted by {outcome.leader}) not applied on "
                f"{', '.join(outcome.missing)} within {outcome.bound_ticks} ticks"]
    return []


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
        "higher-numbered terms. (Committed: stored on a majority by the leader of its term, or before such an entry.)",
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
)

LIVENESS = Invariant(
    "RAFT-LIVENESS", "raft",
    "Once faults stop (partitions healed, crashed servers restarted, no loss) and a majority is "
    "connected, within a bounded number of ticks there is a leader, and a proposal it accepts is "
    "committed and applied on every server.",
    f"{PAPER}, §5.6 (timing and availability); MIT 6.5840 lab 3 agreement tests",
    "A cluster that is safe but never makes progress is down.", None)

INVARIANTS: tuple[Invariant, ...] = (*SAFETY, LIVENESS)
