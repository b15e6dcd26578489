"""The Raft cluster harness: a world of Raft nodes driven by the scenario commands, checking
every invariant after every change of state.

The same methods serve scenario files (`kinv replay`) and the Hypothesis state machine, and each
call records its scenario line, so any run can be written back out as a scenario file.
"""

from __future__ import annotations

import functools

import attrs

from checks.raft import fault_free
from checks.scenario import Strictness
from checks.violation import InvariantViolated, RecordsFindings
from impl.raft.config import RaftConfig
from impl.raft.messages import Kind
from impl.raft.node import RaftNode
from impl.raft.storage import durable_log
from impl.sim.network import Envelope, NetworkFaults
from impl.sim.world import World
from spec.raft import SAFETY, ClusterView, EntryView, LivenessOutcome, NodeView, RaftHistory

__all__ = ["ClusterOptions", "RaftCluster", "InvariantViolated"]

STABILIZE_DELIVERIES_MAX = 5_000  # a bound on `stabilize`, which delivers without ticking


@attrs.frozen
class ClusterOptions:
    size: int = 3
    seed: int = 0
    pre_vote: bool = False
    check_quorum: bool = False
    noop: bool = True
    max_entries: int = 1
    faults: NetworkFaults = NetworkFaults()

    def raft_config(self) -> RaftConfig:
        return RaftConfig(max_entries_per_message=self.max_entries, noop_on_election=self.noop,
                          pre_vote=self.pre_vote, check_quorum=self.check_quorum)

    def line(self) -> str:
        words = [f"cluster {self.size}", f"seed={self.seed}"]
        words += [flag for flag, on in (("prevote", self.pre_vote), ("checkquorum", self.check_quorum),
                                        ("no-noop", not self.noop)) if on]
        if self.max_entries != 1:
            words.append(f"max-entries={self.max_entries}")
        if self.faults != NetworkFaults():
            words.append(self.faults.describe())
        return " ".join(words)


_REQUESTS = (Kind.PRE_VOTE, Kind.VOTE)
_ANSWERS = (Kind.PRE_VOTE_REPLY, Kind.VOTE_REPLY)


def _is_ballot(envelope: Envelope, candidate: str) -> bool:
    """A message of ``candidate``'s election: its requests for votes, and the answers to them."""
    kind = envelope.message.kind
    return (envelope.src == candidate and kind in _REQUESTS) or (envelope.dst == candidate and kind in _ANSWERS)


def _new_node(node_class: type[RaftNode], config: RaftConfig, node_id: str, members: tuple[str, ...], disk,
              rng) -> RaftNode:
    """A module-level factory (not a lambda), so that a run can be copied with pickle."""
    return node_class(node_id, members, disk, rng, config)


class RaftCluster(RecordsFindings, Strictness):
    def __init__(self, options: ClusterOptions, node_class: type[RaftNode] = RaftNode) -> None:
        self.options = options
        self.node_class = node_class
        config = options.raft_config()
        ids = tuple(f"n{i}" for i in range(1, options.size + 1))
        self.world = World(ids, functools.partial(_new_node, node_class, config),
                           options.seed, options.faults)
        self.history = RaftHistory()
        self.lines: list[str] = [options.line()]
        self.violation: InvariantViolated | None = None
        self._last_fingerprint: tuple | None = None
        self._applied_seen = {n: (0, 0) for n in ids}  # (incarnation, applies of it seen so far)
        self._durable_cache: dict[str, tuple[object, int, tuple[EntryView, ...]]] = {}
        self._log_cache: dict[str, tuple[object, int, tuple[EntryView, ...]]] = {}
        self._proposal_count = 0
        self.world.observers.append(self._observe)

    @property
    def ids(self) -> tuple[str, ...]:
        return self.world.node_ids

    # ----- observation and checking -------------------------------------------------------

    def view(self) -> ClusterView:
        nodes, applies = [], []
        for node_id in self.ids:
            node = self.world.nodes[node_id]
            durable = self._durable_log(node_id)
            if node is None:
                nodes.append(NodeView(node_id, False, "down", 0, durable, durable, 0))
                continue
            nodes.append(NodeView(node_id, True, node.role, node.term, self._log(node), durable, node.commit_index,
                                  self.world.incarnations[node_id]))
            incarnation, seen = self._applied_seen[node_id]
            if incarnation != self.world.incarnations[node_id]:  # a restarted node applies anew from 1
                seen = 0
            for index, entry in node.applied[seen:]:
                applies.append((node_id, index, (entry.term, entry.data)))
            self._applied_seen[node_id] = (self.world.incarnations[node_id], len(node.applied))
        return ClusterView(tuple(nodes), tuple(applies))

    def _fingerprint(self) -> tuple:
        """Cheap summary of everything a view holds; equal fingerprints mean equal views."""
        parts = []
        for node_id in self.ids:
            node, disk = self.world.nodes[node_id], self.world.disks[node_id]
            if node is None:
                parts.append((None, disk.durable_version))
            else:  # an incarnation number, not id(): ids of dead objects are reused
                parts.append((self.world.incarnations[node_id], node.role, node.term, node.commit_index,
                              node.log.version, len(node.applied), disk.durable_version))
        return tuple(parts)

    # Logs are re-read only when they changed: the checks run after every event.
    def _durable_log(self, node_id: str) -> tuple[EntryView, ...]:
        disk = self.world.disks[node_id]
        cached = self._durable_cache.get(node_id)
        if cached is None or cached[0] is not disk or cached[1] != disk.durable_version:
            cached = (disk, disk.durable_version, tuple((e.term, e.data) for e in durable_log(disk)))
            self._durable_cache[node_id] = cached
        return cached[2]

    def _log(self, node: RaftNode) -> tuple[EntryView, ...]:
        cached = self._log_cache.get(node.id)
        if cached is None or cached[0] is not node.log or cached[1] != node.log.version:
            cached = (node.log, node.log.version, tuple((e.term, e.data) for e in node.log.all()))
            self._log_cache[node.id] = cached
        return cached[2]

    def _observe(self) -> None:
        if self.violation is not None:
            return
        fingerprint = self._fingerprint()
        if fingerprint == self._last_fingerprint:
            return  # nothing any invariant looks at has changed since the last check
        self._last_fingerprint = fingerprint
        view = self.view()
        self.history.record(view)
        for invariant in SAFETY:
            problems = invariant.predicate(self.history, view)
            if problems:
                self.fail(invariant, problems[0])

    def _record(self, line: str) -> None:
        self.lines.append(line)
        self.world.trace.record(self.world.now, "step", None, f"{len(self.lines) - 1}. {line}")

    # ----- commands (one scenario line each) ----------------------------------------------

    def tick(self, count: int = 1) -> None:
        self._record(f"tick {count}")
        for _ in range(count):
            self.world.tick()

    def campaign(self, node_id: str, verb: str = "campaign") -> bool:
        """The node's election timer fires now (etcd-raft's MsgHup). False if it could not."""
        self._record(f"{verb} {node_id}")
        node = self.world.nodes[node_id]
        if node is None or node.role == "leader":
            self.no_effect(f"{node_id} is {'down' if node is None else 'already the leader'}")
            return False
        self.world.apply(node_id, node.campaign())
        return True

    def timeout(self, node_id: str) -> None:
        """`timeout n1`: n1's election timeout elapses now. A follower or candidate campaigns; a
        leader with CheckQuorum checks that a quorum answered since its last check."""
        node = self.world.nodes[node_id]
        if node is None or node.role != "leader":
            self.campaign(node_id, "timeout")
            return
        self._record(f"timeout {node_id}")
        if not self.options.check_quorum:
            self.no_effect(f"{node_id} leads without CheckQuorum: no timeout of its own")
            return
        self.world.apply(node_id, node.check_quorum())

    def elect(self, node_id: str) -> None:
        """`elect n1`: n1 campaigns and only the election's own messages move (its vote and
        pre-vote requests, and the answers to it) until none is left; every other message stays
        where it is. One step for what takes a campaign and a few deliveries."""
        if not self.campaign(node_id, "elect"):
            return
        for _ in range(STABILIZE_DELIVERIES_MAX):
            ballot = next((e for e in self.world.network.in_flight if _is_ballot(e, node_id)), None)
            if ballot is None:
                return
            self.world.deliver(ballot)

    def propose(self, node_id: str, data: str | None = None) -> int | None:
        if data is None:
            self._proposal_count += 1
            data = f"v{self._proposal_count}"
        self._record(f"propose {node_id} {data}")
        node = self.world.nodes[node_id]
        if node is None or node.role != "leader":
            self.no_effect(f"{node_id} is {'down' if node is None else 'not the leader: it refuses proposals'}")
            return None
        output, index = node.propose(data)
        self.world.trace.record(self.world.now, "propose", node_id, f"{data} -> index {index}")
        self.world.apply(node_id, output)
        return index

    def in_flight(self) -> list[Envelope]:
        return list(self.world.network.in_flight)

    def _queue(self, verb: str, src: str, dst: str) -> list[Envelope]:
        network = self.world.network
        return network.held_on_link(src, dst) if verb == "release" else network.on_link(src, dst)

    def on_link(self, verb: str, src: str, dst: str, nth: int = 1) -> None:
        """`deliver|drop|duplicate|hold|release src->dst [nth=K]`: act on the nth message queued on
        that link (the held ones, for release). `hold` delays a message until a `release`,
        typically into a later term."""
        queue = self._queue(verb, src, dst)
        self._record(f"{verb} {src}->{dst}" + (f" nth={nth}" if nth > 1 else ""))
        if not 1 <= nth <= len(queue):
            where = "held on" if verb == "release" else "in flight on"
            self.no_effect(f"{len(queue)} message{'' if len(queue) == 1 else 's'} {where} {src}->{dst}")
            return
        actions = {"deliver": self.world.deliver, "release": self.world.deliver, "drop": self.world.drop,
                   "duplicate": self.world.duplicate, "hold": self.world.hold}
        actions[verb](queue[nth - 1])

    def on_envelope(self, verb: str, envelope: Envelope) -> None:
        """The same, for a message the caller picked: recorded as its link and position."""
        nth = self._queue(verb, envelope.src, envelope.dst).index(envelope) + 1
        self.on_link(verb, envelope.src, envelope.dst, nth)

    def deliver_round(self) -> None:
        """Deliver every message in flight now (not the ones they cause)."""
        self._record("deliver")
        for envelope in self.in_flight():
            if envelope in self.world.network.in_flight:
                self.world.deliver(envelope)

    def drop_all(self) -> None:
        self._record("drop")
        for envelope in self.in_flight():
            self.world.drop(envelope)

    def stabilize(self) -> None:
        """Deliver every in-flight message, and what they cause, without letting time pass."""
        self._record("stabilize")
        for _ in range(STABILIZE_DELIVERIES_MAX):
            if not self.world.network.in_flight:
                return
            self.world.deliver(self.world.network.in_flight[0])

    def partition(self, groups: list[list[str]]) -> None:
        """Replaces every cut (Network.partition): the groups are what is connected now."""
        self._record("partition " + " | ".join(" ".join(g) for g in groups))
        self.world.network.partition(groups)
        self.world.trace.record(self.world.now, "partition", None, " | ".join(" ".join(g) for g in groups))

    def block(self, src: str, dst: str) -> None:
        self._record(f"block {src}->{dst}")
        self.world.network.block(src, dst)
        self.world.trace.record(self.world.now, "partition", None, f"one-way: {src} cannot reach {dst}")

    def heal(self) -> None:
        self._record("heal")
        self.world.network.heal()
        self.world.trace.record(self.world.now, "heal", None, "every link restored")

    def crash(self, node_id: str) -> None:
        self._record(f"crash {node_id}")
        if not self.world.up(node_id):
            self.no_effect(f"{node_id} is already down")
            return
        self.world.crash(node_id)

    def restart(self, node_id: str) -> None:
        self._record(f"restart {node_id}")
        if self.world.up(node_id):
            self.no_effect(f"{node_id} is up")
            return
        self.world.restart(node_id)

    # ----- the fault-free phase ----------------------------------------------------------

    def converge(self) -> LivenessOutcome:
        """Stop every fault, then demand progress, a stable leader, and (when on) PreVote and
        CheckQuorum doing their jobs (checks/raft/fault_free.py)."""
        self._record("converge")
        return fault_free.converge(self)
