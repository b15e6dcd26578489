"""The node that writes the seed objects into the store before a run (a restore from backup),
and compacts the store when a scenario says `compact`.

Each object is its own put, so each has its own revision, as every write through the API
server does (a watch never sees two objects at one resourceVersion). All puts go out at once to
the leader; the leader proposes them in order.
"""

from __future__ import annotations

from typing import Any

from impl.etcd.messages import ClientRequest, ClientResponse, CompactionRequest
from impl.etcd.types import PutRequest
from impl.sim.world import Output

__all__ = ["Seeder", "RESEND_TICKS"]

RESEND_TICKS = 60  # long after a healthy store answers every seed put


class Seeder:
    def __init__(self, node_id: str, members: tuple[str, ...]) -> None:
        self.id = node_id
        self.members = members
        self.pending: dict[int, Any] = {}  # request id -> op, until answered
        self.sent_at: dict[int, int] = {}
        self.target = members[0]
        self.now = 0
        self._next = 0

    @property
    def idle(self) -> bool:
        return not self.pending

    def _send(self, ops: list[Any]) -> Output:
        out = Output()
        for op in ops:
            self._next += 1
            self.pending[self._next] = op
            self.sent_at[self._next] = self.now
            out.messages.append((self.target, ClientRequest(self._next, op)))
        return out

    def seed(self, leader: str, writes: tuple[tuple[bytes, bytes], ...]) -> Output:
        self.target = leader
        return self._send([PutRequest(key, value) for key, value in writes])

    def compact(self, leader: str, revision: int) -> Output:
        self.target = leader
        return self._send([CompactionRequest(revision)])

    def tick(self) -> Output:
        """A request lost on the way (or its answer) is sent again: a seed must be complete (a put
        sent twice writes the same object twice, which nobody can tell from one write)."""
        self.now += 1
        out = Output()
        for request_id, op in sorted(self.pending.items()):
            if self.now - self.sent_at[request_id] >= RESEND_TICKS:
                self.sent_at[request_id] = self.now
                out.messages.append((self.target, ClientRequest(request_id, op)))
        return out

    def step(self, src: str, message: Any) -> Output:
        if isinstance(message, ClientResponse) and message.request_id in self.pending:
            if message.not_leader and message.leader_hint:
                self.target = message.leader_hint
                return Output(messages=[(self.target, ClientRequest(message.request_id,
                                                                    self.pending[message.request_id]))])
            if message.unknown is not None:
                return Output()  # the leader changed under it: sent again on the next tick that is due
            del self.pending[message.request_id]
        return Output()
