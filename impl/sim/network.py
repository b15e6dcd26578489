"""The simulated network: messages in flight, each with a delivery tick; partitions (symmetric
and one-way), random loss, duplication and delay drawn from the world's one RNG. Reordering
comes from unequal delays, or from delivering any in-flight message by hand.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import attrs

__all__ = ["Envelope", "Network", "NetworkFaults"]

IN_FLIGHT_MAX = 10_000  # beyond this the network sheds the oldest messages, as a full queue would


@attrs.frozen
class NetworkFaults:
    """Rates the network applies on its own at every send; all zero is a perfect network."""

    delay_min_ticks: int = 1
    delay_max_ticks: int = 1
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0

    def __attrs_post_init__(self) -> None:
        assert 0 <= self.delay_min_ticks <= self.delay_max_ticks, "delay range is inverted"
        assert 0.0 <= self.drop_rate <= 1.0 and 0.0 <= self.duplicate_rate <= 1.0

    def describe(self) -> str:
        """The scenario words for these faults; a fault at its default is left out."""
        words = []
        if (self.delay_min_ticks, self.delay_max_ticks) != (1, 1):
            words.append(f"delay={self.delay_min_ticks}..{self.delay_max_ticks}")
        words += [f"{name}={rate:g}" for name, rate in (("drop", self.drop_rate), ("duplicate", self.duplicate_rate))
                  if rate]
        return " ".join(words)


@attrs.frozen
class Envelope:
    id: int
    src: str
    dst: str
    message: Any
    sent_tick: int
    deliver_tick: int


class Network:
    def __init__(self, faults: NetworkFaults) -> None:
        self.faults = faults
        self.in_flight: list[Envelope] = []  # kept in id order
        # Messages stuck somewhere (a long delay): never delivered by time passing, only when
        # released by hand, typically long after, into a later term.
        self.held: list[Envelope] = []
        self.blocked: set[tuple[str, str]] = set()  # (src, dst) links that lose everything
        self._next_id = 1

    def link_open(self, src: str, dst: str) -> bool:
        return (src, dst) not in self.blocked

    def send(self, src: str, dst: str, message: Any, now: int, rng: random.Random) -> list[str]:
        """Queue a message; returns what happened to it ("sent", "dropped", "duplicated")."""
        if not self.link_open(src, dst):
            return ["partitioned"]
        if self.faults.drop_rate and rng.random() < self.faults.drop_rate:
            return ["lost"]
        outcomes = [self._enqueue(src, dst, message, now, rng)]
        if self.faults.duplicate_rate and rng.random() < self.faults.duplicate_rate:
            outcomes.append(self._enqueue(src, dst, message, now, rng))
        return outcomes

    def _enqueue(self, src: str, dst: str, message: Any, now: int, rng: random.Random) -> str:
        low, high = self.faults.delay_min_ticks, self.faults.delay_max_ticks
        delay = low if low == high else rng.randint(low, high)
        envelope = Envelope(self._next_id, src, dst, message, now, now + delay)
        self._next_id += 1
        self.in_flight.append(envelope)
        if len(self.in_flight) > IN_FLIGHT_MAX:
            del self.in_flight[0]
        return f"#{envelope.id}"

    def duplicate(self, envelope: Envelope, now: int) -> Envelope:
        copy = attrs.evolve(envelope, id=self._next_id, sent_tick=now, deliver_tick=now)
        self._next_id += 1
        self.in_flight.append(copy)
        return copy

    def due(self, now: int) -> list[Envelope]:
        return [e for e in self.in_flight if e.deliver_tick <= now]

    def on_link(self, src: str, dst: str) -> list[Envelope]:
        return [e for e in self.in_flight if e.src == src and e.dst == dst]

    def remove(self, envelope: Envelope) -> None:
        if envelope in self.held:
            self.held.remove(envelope)
        else:
            self.in_flight.remove(envelope)

    def hold(self, envelope: Envelope) -> None:
        self.in_flight.remove(envelope)
        self.held.append(envelope)

    def held_on_link(self, src: str, dst: str) -> list[Envelope]:
        return [e for e in self.held if e.src == src and e.dst == dst]

    def partition(self, groups: Iterable[Iterable[str]]) -> None:
        """Replace every cut: links between different groups are cut both ways, every other link
        (inside a group, or to a node no group names) is open. As Jepsen's partition nemesis: a
        new partition is the whole network's shape, not one more cut on top of the last."""
        self.blocked.clear()
        groups = [sorted(g) for g in groups]
        for i, group in enumerate(groups):
            for other in groups[i + 1:]:
                for a in group:
                    for b in other:
                        self.blocked.update({(a, b), (b, a)})

    def block(self, src: str, dst: str) -> None:
        """A one-way cut: src can no longer reach dst, dst still reaches src."""
        self.blocked.add((src, dst))

    def heal(self) -> None:
        self.blocked.clear()
