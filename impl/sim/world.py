"""The world runs sans-I/O nodes: it owns time, randomness, delivery, disks and the trace.

A node is a pure state machine: ``tick()`` and ``step(src, message)`` return an ``Output`` of
disk writes, whether they must be synced, messages to send and notes for the trace. The world
applies the writes (and syncs) before it sends, which is the order Raft's durability rule needs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Protocol

import attrs

from impl.sim.counts import MessageCounts
from impl.sim.disk import Disk
from impl.sim.network import Envelope, Network, NetworkFaults
from impl.sim.trace import TraceRecorder

__all__ = ["Node", "Output", "World", "NodeFactory"]


@attrs.define
class Output:
    writes: dict[str, Any] = attrs.field(factory=dict)
    sync: bool = False
    messages: list[tuple[str, Any]] = attrs.field(factory=list)  # (destination, message)
    notes: list[tuple[str, str]] = attrs.field(factory=list)  # (trace kind, detail)

    def extend(self, other: "Output") -> None:
        self.writes.update(other.writes)
        self.sync = self.sync or other.sync
        self.messages.extend(other.messages)
        self.notes.extend(other.notes)


class Node(Protocol):
    id: str

    def tick(self) -> Output: ...

    def step(self, src: str, message: Any) -> Output: ...


# Builds a node from its disk (empty on first boot, what was synced after a crash).
NodeFactory = Callable[[str, tuple[str, ...], Disk, random.Random], Node]


def describe(message: Any) -> str:
    return message.describe() if hasattr(message, "describe") else repr(message)


class World:
    def __init__(self, node_ids: tuple[str, ...], factory: NodeFactory, seed: int,
                 faults: NetworkFaults = NetworkFaults()) -> None:
        self.node_ids = tuple(sorted(node_ids))
        self.factory = factory
        self.rng = random.Random(seed)
        self.now = 0
        self.network = Network(faults)
        self.trace = TraceRecorder()
        self.disks = {n: Disk() for n in self.node_ids}
        self.nodes: dict[str, Node | None] = {n: factory(n, self.node_ids, self.disks[n], self.rng)
                                              for n in self.node_ids}
        self.delivered_count = 0
        self.counts = MessageCounts()
        self.incarnations = {n: 0 for n in self.node_ids}  # restarts so far, per node
        # Called after every change of state (a node's output, a crash, a restart), so that a
        # checker sees every intermediate state, not just the state between commands.
        self.observers: list[Callable[[], None]] = []
        # Called with each message a live receiver got, before it acts on it (what a check of
        # who-heard-from-whom needs; empty unless a check asks).
        self.delivery_observers: list[Callable[[Envelope], None]] = []
        # Called at the end of every tick, once every node has ticked (a harness's per-tick
        # checks and perturbations).
        self.tick_observers: list[Callable[[], None]] = []

    def _changed(self) -> None:
        for observer in self.observers:
            observer()

    def up(self, node_id: str) -> bool:
        return self.nodes[node_id] is not None

    def apply(self, node_id: str, output: Output) -> None:
        """Persist, then sync, then send: a message never leaves before what it promises is on disk."""
        disk = self.disks[node_id]
        for key, value in output.writes.items():
            disk.write(key, value)
        if output.sync:
            disk.sync()
        for kind, detail in output.notes:
            self.trace.record(self.now, kind, node_id, detail)
        for dst, message in output.messages:
            outcomes = self.network.send(node_id, dst, message, self.now, self.rng)
            for outcome in outcomes:
                kind = "send" if outcome.startswith("#") else "drop"
                self.counts.sent(message)
                if kind == "drop":
                    self.counts.count("dropped", message)
                self.trace.record(self.now, kind, node_id, f"{describe(message)} {outcome}", peer=dst)
        self._changed()

    def deliver(self, envelope: Envelope) -> None:
        self.network.remove(envelope)
        node = self.nodes[envelope.dst]
        text = f"{describe(envelope.message)} #{envelope.id}"
        if node is None or not self.network.link_open(envelope.src, envelope.dst):
            why = "receiver down" if node is None else "partitioned"
            self.counts.count("dropped", envelope.message)
            self.trace.record(self.now, "drop", envelope.src, f"{text} ({why})", peer=envelope.dst)
            return
        self.trace.record(self.now, "deliver", envelope.src, text, peer=envelope.dst)
        self.delivered_count += 1
        self.counts.count("delivered", envelope.message)
        for observer in self.delivery_observers:
            observer(envelope)
        self.apply(envelope.dst, node.step(envelope.src, envelope.message))

    def drop(self, envelope: Envelope) -> None:
        self.network.remove(envelope)
        self.counts.count("dropped", envelope.message)
        self.trace.record(self.now, "drop", envelope.src, f"{describe(envelope.message)} #{envelope.id}",
                          peer=envelope.dst)

    def duplicate(self, envelope: Envelope) -> None:
        copy = self.network.duplicate(envelope, self.now)
        self.counts.count("sent", envelope.message)  # the network sends it twice
        self.trace.record(self.now, "duplicate", envelope.src, f"{describe(envelope.message)} #{copy.id}",
                          peer=envelope.dst)

    def hold(self, envelope: Envelope) -> None:
        self.network.hold(envelope)
        self.trace.record(self.now, "hold", envelope.src, f"{describe(envelope.message)} #{envelope.id} delayed",
                          peer=envelope.dst)

    def tick(self) -> None:
        """One unit of time: deliver what is due, in send order, then every live node ticks."""
        self.now += 1
        for envelope in self.network.due(self.now):
            if envelope in self.network.in_flight:
                self.deliver(envelope)
        for node_id in self.node_ids:
            node = self.nodes[node_id]
            if node is not None:
                self.apply(node_id, node.tick())
        for observer in self.tick_observers:
            observer()

    def crash(self, node_id: str) -> None:
        self.nodes[node_id] = None
        self.disks[node_id].crash()
        self.trace.record(self.now, "crash", node_id, "volatile state and unsynced writes lost")
        self._changed()

    def restart(self, node_id: str) -> None:
        self.trace.record(self.now, "restart", node_id, "recovering from disk")
        self.incarnations[node_id] += 1
        self.nodes[node_id] = self.factory(node_id, self.node_ids, self.disks[node_id], self.rng)
        self._changed()
