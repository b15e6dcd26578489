"""The Raft model the explorer walks (checks/explore): a cluster started from a `cluster` line,
and in each state every move a scenario line can make without time passing, as in etcd-raft's
interaction tests: elect a server (`elect`: it campaigns and only its ballots move) or, in one
profile, just let it campaign; propose to a leader; deliver any message in flight (so every
reordering); and, within bounds, duplicate a message, crash a server and restart it.

Time is left out: elections start by `elect` and `campaign`, so the explorer sees every
interleaving of messages rather than every clock reading. Timers and the random generator then cannot change
what happens next, so they are not part of a state. Bounds keep the space finite, like TLC's
constraints on raft.tla: terms, log length, crashes and duplicates.
"""

from __future__ import annotations

import random
from collections.abc import Hashable

import attrs

from checks.explore.canonical import freeze
from checks.explore.copying import RunCopier
from checks.explore.engine import Move, Played, Split
from checks.raft.cluster import ClusterOptions, RaftCluster
from checks.raft.scenario import execute, load
from checks.scenario import Command
from checks.violation import InvariantViolated
from impl.raft.config import RaftConfig
from impl.raft.messages import Entry, Message
from impl.raft.node import RaftNode
from impl.sim.network import Envelope, NetworkFaults
from spec.raft.observation import ClusterView, NodeView, incarnation_label

__all__ = ["RaftModel", "ExploreBounds", "PROFILES"]

# What does not decide the future of a state without ticks: timers and the random generator
# (only timers read it), configuration, the apply stream already checked, counters of versions.
_IGNORED = frozenset({"_rng", "config", "peers", "id", "applied", "_out", "election_elapsed", "heartbeat_elapsed",
                      "randomized_timeout", "version", "durable_version"})

_ATOMS = (Entry, Message)  # values that name no server: hashed as they are
_CRASHES, _DUPLICATES = "$crashes", "$duplicates"  # budgets that moves share, as if they were servers


@attrs.frozen
class ExploreBounds:
    max_term: int = 3  # no campaign from a server at this term
    max_log: int = 3  # no proposal to a leader whose log is this long
    max_crashes: int = 0
    max_duplicates: int = 0
    campaigns: bool = False  # also `campaign` (no message delivered), besides `elect` (its ballots delivered)
    data: str = "x"  # every proposal carries it: entries differ by index and term, as in raft.tla

    def describe(self) -> str:
        return (f"terms<={self.max_term} log<={self.max_log} crashes<={self.max_crashes} "
                f"duplicates<={self.max_duplicates}" + (" campaigns" if self.campaigns else ""))


# What `kinv explore raft` walks, level by level in turn: elections and message orders (Figure 8
# and most replication bugs), the same without the no-op, then single campaigns, CheckQuorum
# step-downs and a crash and restart (a vote or term not on disk is lost), then PreVote with a
# duplicated message.
PROFILES: tuple[tuple[str, ExploreBounds], ...] = (
    ("cluster 3 seed=0", ExploreBounds()),
    ("cluster 3 seed=0 no-noop", ExploreBounds()),
    ("cluster 3 seed=0 no-noop checkquorum", ExploreBounds(max_term=2, max_log=2, max_crashes=1, campaigns=True)),
    ("cluster 3 seed=0 prevote", ExploreBounds(max_duplicates=1)),
)


class _NullTrace:
    """The explorer copies runs by the thousand; their traces are rebuilt by replaying the
    counterexample's lines, so the copies keep none."""

    events: tuple = ()

    def record(self, *args, **kwargs) -> None:
        pass


@attrs.define
class _Run:
    cluster: RaftCluster
    crashes: int = 0
    duplicates: int = 0


class RaftModel:
    def __init__(self, cluster_line: str, node_class: type[RaftNode], bounds: ExploreBounds = ExploreBounds()) -> None:
        self.options: ClusterOptions = load(cluster_line, "<explore>").options
        self.node_class = node_class
        self.bounds = bounds
        self.node_ids = tuple(f"n{i}" for i in range(1, self.options.size + 1))
        # Immutable values are shared by every copy; so is the random generator: without time,
        # what it draws (election timeouts) decides nothing, and the explorer's order is fixed.
        self.copier = RunCopier((Entry, Message, Envelope, NodeView, ClusterView, ClusterOptions, RaftConfig,
                                 NetworkFaults, random.Random))

    def initial(self) -> _Run:
        cluster = RaftCluster(self.options, self.node_class)
        cluster.world.trace = _NullTrace()
        return _Run(cluster)

    # ----- moves ---------------------------------------------------------------------------

    def moves(self, run: _Run) -> list[Move]:
        world, bounds = run.cluster.world, self.bounds
        found: list[Move] = []
        for node_id in self.node_ids:
            node = world.nodes[node_id]
            if node is None:
                found.append(Move(f"restart {node_id}", frozenset({node_id}), ("restart", node_id)))
                continue
            if node.role != "leader" and node.term < bounds.max_term:
                found.append(Move(f"elect {node_id}", frozenset(self.node_ids), ("elect", node_id)))
                if bounds.campaigns:
                    found.append(Move(f"campaign {node_id}", frozenset({node_id}), ("campaign", node_id)))
            if node.role == "leader" and self.options.check_quorum:
                found.append(Move(f"timeout {node_id}", frozenset({node_id}), ("timeout", node_id)))
            if node.role == "leader" and node.log.last_index < bounds.max_log:
                found.append(Move(f"propose {node_id} {bounds.data}", frozenset({node_id}), ("propose", node_id)))
            if run.crashes < bounds.max_crashes:  # crashes share a budget: they do not commute
                found.append(Move(f"crash {node_id}", frozenset({node_id, _CRASHES}), ("crash", node_id)))
        found += self._message_moves(run)
        return found

    def _message_moves(self, run: _Run) -> list[Move]:
        moves, seen = [], set()
        position: dict[tuple[str, str], int] = {}
        for envelope in run.cluster.world.network.in_flight:
            link = (envelope.src, envelope.dst)
            position[link] = position.get(link, 0) + 1
            content = (envelope.src, envelope.dst, envelope.message)
            if content in seen:
                continue  # an identical message earlier on the link: delivering either is the same
            seen.add(content)
            nth = "" if position[link] == 1 else f" nth={position[link]}"
            arrow = f"{envelope.src}->{envelope.dst}{nth}"
            moves.append(Move(f"deliver {arrow}", frozenset({envelope.dst}), ("deliver", *content)))
            if run.duplicates < self.bounds.max_duplicates:
                moves.append(Move(f"duplicate {arrow}", frozenset({envelope.dst, _DUPLICATES}),
                                  ("duplicate", *content)))
        return moves

    # ----- playing one ---------------------------------------------------------------------

    def copy_source(self, run: _Run) -> bytes:
        """A run as bytes, copied once for every move played from it."""
        return self.copier.dumps(run)

    def play(self, run: _Run, move: Move, source: bytes) -> Played:
        child = self.copier.loads(source)
        child.crashes += move.line.startswith("crash")
        child.duplicates += move.line.startswith("duplicate")
        words = move.line.split()
        try:
            execute(child.cluster, Command(words[0], tuple(words[1:]), 1, move.line))
        except InvariantViolated as violation:
            return Played(child, violation)
        except Exception as error:  # out of impl/: an IMPL-EXCEPTION finding; ours: re-raised
            return Played(child, child.cluster.exception_raised(error))
        return Played(child, None)

    # ----- the plain value of a state -------------------------------------------------------

    def split(self, run: _Run, parent: Split | None = None, changed: frozenset[str] = frozenset()) -> Split:
        world = run.cluster.world
        per_node = {}
        for node_id in self.node_ids:
            if parent is not None and node_id not in changed:
                per_node[node_id] = parent[0][node_id]  # a move changes only its own servers
                continue
            node, disk = world.nodes[node_id], world.disks[node_id]
            signature = ((node.role, node.term, node.log.all(), node.commit_index) if node is not None
                         else ("down", freeze(disk.durable_snapshot(), (), _ATOMS)))
            state = (freeze(node, _IGNORED, _ATOMS) if node is not None else "down", freeze(disk, _IGNORED, _ATOMS))
            per_node[node_id] = (signature, state)
        network = world.network
        shared = (_multiset(network.in_flight), _multiset(network.held), frozenset(network.blocked),
                  self._ghost(run.cluster), run.crashes, run.duplicates)
        return per_node, shared

    def _ghost(self, cluster: RaftCluster) -> Hashable:
        """What the invariants remember: elections (by this incarnation of a server, or an earlier
        one), who accepted which entry not yet committed, the committed log, and what was applied
        first at each index. (How far each server applied is its own applied index.)"""
        history = cluster.history
        current = {node_id: incarnation_label(node_id, cluster.world.incarnations[node_id])
                   for node_id in self.node_ids}
        elections = frozenset((term, label.split()[0], label == current[label.split()[0]])
                              for term, labels in history.leaders_by_term.items() for label in labels)
        applied = frozenset((index, entry) for index, (entry, _) in history.applied.items())
        accepted = frozenset((index, entry, frozenset(nodes)) for (index, entry), nodes in history.accepted.items())
        return elections, accepted, history.committed_log, history.committed_terms, applied


def _multiset(envelopes) -> frozenset:
    counts: dict[Hashable, int] = {}
    for envelope in envelopes:
        key = (envelope.src, envelope.dst, envelope.message)
        counts[key] = counts.get(key, 0) + 1
    return frozenset(counts.items())

