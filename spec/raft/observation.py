"""Plain observations of a Raft cluster, and the ghost history the invariants are judged on.

Entries are plain ``(term, data)`` pairs so that spec/ needs nothing from impl/.
"""

from __future__ import annotations

import attrs

__all__ = ["EntryView", "NodeView", "ClusterView", "RaftHistory", "LivenessOutcome", "LeaderWatch", "StepDown",
           "election_label", "incarnation_label"]

EntryView = tuple[int, str]  # (term, data)


@attrs.frozen
class NodeView:
    id: str
    up: bool
    role: str  # "leader", "follower", ... ("down" when crashed)
    term: int
    log: tuple[EntryView, ...]  # what the node acts on (its durable log while it is down)
    durable_log: tuple[EntryView, ...]  # what would survive a crash now
    commit_index: int
    incarnation: int = 0  # restarts so far: a node elected twice in one term was elected twice


def election_label(node: NodeView) -> str:
    return incarnation_label(node.id, node.incarnation)


def incarnation_label(node_id: str, incarnation: int) -> str:
    """How elections name a server: a server elected twice in one term, before and after a
    restart, was elected twice."""
    return node_id if incarnation == 0 else f"{node_id} after restart {incarnation}"


@attrs.frozen
class ClusterView:
    """The cluster after one step, with the entries applied during that step."""

    nodes: tuple[NodeView, ...]
    new_applies: tuple[tuple[str, int, EntryView], ...] = ()  # (node, index, entry)

    @property
    def majority(self) -> int:
        return len(self.nodes) // 2 + 1

    def leaders(self) -> list[NodeView]:
        return [n for n in self.nodes if n.up and n.role == "leader"]


@attrs.define
class RaftHistory:
    """What the invariants remember across steps (ghost state; no node can see it).

    ``committed`` follows the paper's definition (§5.3, §5.4.2): an entry is committed once the
    leader that created it has replicated it on a majority; every entry before it is committed
    with it. A server *accepted* an entry of term T when it held it while its own term was T: only
    the leader of T makes entries of T, and a server at a later term refuses that leader's
    AppendEntries. So an entry is committed once a majority accepted it (the argument of the
    paper's Leader Completeness proof, §5.4.3), whether or not its leader still leads when the
    last acceptance happens. Acceptances are recorded server by server, so the verdict does not
    depend on how the steps of different servers interleave (what lets the explorer skip
    reorderings of independent steps). A node's commit index is *not* the definition: the
    Figure 8 bug is a leader that wrongly believes an entry is committed.
    """

    leaders_by_term: dict[int, set[str]] = attrs.field(factory=dict)  # elections seen: "n1", "n1 after restart 2"
    previous: ClusterView | None = None  # the view recorded before the latest one
    latest: ClusterView | None = None
    committed: dict[int, tuple[EntryView, int]] = attrs.field(factory=dict)  # index -> (entry, term committed in)
    applied: dict[int, tuple[EntryView, str]] = attrs.field(factory=dict)  # index -> first applied, by whom
    # The same commitment as two index-ordered tuples: every commitment covers a whole prefix, so
    # the committed indexes are always 1..n, and the terms they were committed in never decrease.
    committed_log: tuple[EntryView, ...] = ()
    committed_terms: tuple[int, ...] = ()
    # (index, entry) -> the servers that accepted it, for entries past the committed prefix
    accepted: dict[tuple[int, EntryView], set[str]] = attrs.field(factory=dict)
    # server -> (incarnation, last index it applied): each incarnation applies 1, 2, 3, ...
    applied_through: dict[str, tuple[int, int]] = attrs.field(factory=dict)
    # the first apply of the latest view that did not follow the one before it: (node, index, expected)
    out_of_order: tuple[str, int, int] | None = None

    def record(self, view: ClusterView) -> None:
        self.previous, self.latest = self.latest, view
        for leader in view.leaders():
            self.leaders_by_term.setdefault(leader.term, set()).add(election_label(leader))
        for node in view.nodes:
            if node.up:
                self._record_acceptance(node, view.majority)
        self._record_apply_order(view)
        for node_id, index, entry in view.new_applies:
            self.applied.setdefault(index, (entry, node_id))

    def _record_apply_order(self, view: ClusterView) -> None:
        self.out_of_order = None
        incarnations = {node.id: node.incarnation for node in view.nodes}
        for node_id, index, _ in view.new_applies:
            incarnation, last = self.applied_through.get(node_id, (0, 0))
            if incarnation != incarnations[node_id]:
                last = 0  # a restarted server applies its log again from the start
            if index != last + 1 and self.out_of_order is None:
                self.out_of_order = (node_id, index, last + 1)
            self.applied_through[node_id] = (incarnations[node_id], index)

    def _record_acceptance(self, node: NodeView, majority: int) -> None:
        for index in range(len(node.log), len(self.committed_log), -1):
            entry = node.log[index - 1]
            if entry[0] != node.term:
                return  # terms never decrease along a log: the rest is of earlier terms
            holders = self.accepted.setdefault((index, entry), set())
            holders.add(node.id)
            if len(holders) >= majority:
                for i in range(len(self.committed_log) + 1, index + 1):
                    self.committed.setdefault(i, (node.log[i - 1], entry[0]))
                self._extend_committed_log()
                self.accepted = {key: ids for key, ids in self.accepted.items() if key[0] > index}
                return

    def _extend_committed_log(self) -> None:
        known = len(self.committed_log)
        if len(self.committed) > known:
            fresh = [self.committed[i] for i in range(known + 1, len(self.committed) + 1)]
            self.committed_log += tuple(entry for entry, _ in fresh)
            floor = self.committed_terms[-1] if self.committed_terms else 0
            # a running maximum, so that a search by term stays valid even in a run whose bug let
            # a deposed leader's term commit after a later one
            self.committed_terms += tuple(max(floor, term) for _, term in fresh)


@attrs.frozen
class LivenessOutcome:
    """What the heal-and-converge phase saw: within ``bound_ticks`` of healing, a leader, and a
    fresh proposal accepted by it and applied on every node."""

    bound_ticks: int
    leader: str | None
    proposal_index: int | None
    missing: tuple[str, ...]  # nodes that had not applied the proposal when the bound ran out
    bound_formula: str = ""  # how the bound was computed from the work to repair


@attrs.frozen
class LeaderWatch:
    """A fault-free window watched from a healthy leader: ``leader`` of ``term`` at the start,
    who led (and in which term) at the end, and which servers started an election meanwhile.
    ``isolated`` names a follower cut off for part of the window (the PreVote probe)."""

    leader: str
    term: int
    window_ticks: int
    leader_after: str | None
    term_after: int
    campaigners: tuple[str, ...] = ()
    isolated: str | None = None


@attrs.frozen
class StepDown:
    """A leader cut off from every other server, watched for ``bound_ticks``: the tick (counted
    from the cut) at which it stopped leading, or None if it still led when the bound ran out."""

    leader: str
    term: int
    bound_ticks: int
    stepped_down_after: int | None
