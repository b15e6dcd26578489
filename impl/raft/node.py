"""A sans-I/O Raft node (Raft paper §5 and Figure 2; etcd-raft's raft.go).

Input is ``step(src, message)``, ``tick()``, ``campaign()`` and ``propose(data)``; each returns
an ``Output`` with the disk writes to sync, the messages to send and notes for the trace. The
node never sends before the world has synced what the messages promise (paper §5, "Rules for
Servers": persist currentTerm, votedFor and log[] before responding to RPCs).

The protocol is split by concern: elections in ``election.py``, log replication in
``replication.py``; this module holds lifecycle, dispatch, persistence and the apply stream.
"""

from __future__ import annotations

import random
from typing import Any

from impl.raft.config import RaftConfig
from impl.raft.election import ElectionMixin
from impl.raft.log import RaftLog
from impl.raft.messages import Entry, Kind, Message
from impl.raft.replication import ReplicationMixin
from impl.raft.roles import Role, check_transition
from impl.raft.storage import LOG_LAST_KEY, TERM_KEY, VOTE_KEY, entry_key, recover
from impl.sim.disk import Disk
from impl.sim.world import Output

__all__ = ["RaftNode"]

# Message kind -> handler method name (names, so that a catalog bug's override is the one called).
_HANDLERS: dict[str, str] = {
    Kind.HUP: "_on_hup",
    Kind.CHECK_QUORUM: "_on_check_quorum",
    Kind.PRE_VOTE: "_on_vote_request",
    Kind.VOTE: "_on_vote_request",
    Kind.PRE_VOTE_REPLY: "_on_vote_reply",
    Kind.VOTE_REPLY: "_on_vote_reply",
    Kind.APPEND: "_on_append",
    Kind.APPEND_REPLY: "_on_append_reply",
}


class RaftNode(ElectionMixin, ReplicationMixin):
    def __init__(self, node_id: str, members: tuple[str, ...], disk: Disk, rng: random.Random,
                 config: RaftConfig = RaftConfig()) -> None:
        self.id = node_id
        self.peers = tuple(sorted(m for m in members if m != node_id))
        self.config = config
        self._rng = rng
        self.term, self.voted_for, entries = recover(disk)
        self.log = RaftLog(entries)
        self._persisted_hard_state = (self.term, self.voted_for)
        self.role = Role.FOLLOWER
        self.leader_id: str | None = None
        self.commit_index = 0  # invariant: applied_index <= commit_index <= log.last_index
        self.applied_index = 0
        self.applied: list[tuple[int, Entry]] = []  # the apply stream of this incarnation
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_timeout = 0
        self.votes: dict[str, bool] = {}
        self.next_index: dict[str, int] = {}
        self.match_index: dict[str, int] = {}
        self.recent_active: set[str] = set()
        self._out = Output()
        self._reset_randomized_timeout()

    @property
    def quorum(self) -> int:
        return (len(self.peers) + 1) // 2 + 1

    # ----- inputs -------------------------------------------------------------------------

    def tick(self) -> Output:
        if self.role == Role.LEADER:
            self._tick_leader()
        else:
            self._tick_election()
        return self._ready()

    def step(self, src: str, message: Message) -> Output:
        self._step(src, message)
        return self._ready()

    def campaign(self) -> Output:
        """The election timer fires now (etcd-raft's MsgHup): what `campaign n1` means."""
        self._step(self.id, Message(Kind.HUP, self.term))
        return self._ready()

    def check_quorum(self) -> Output:
        """A leader's election timeout elapses now (etcd-raft's MsgCheckQuorum): with CheckQuorum it
        steps down unless a quorum answered since the last check. What `timeout n1` means for a leader."""
        self._step(self.id, Message(Kind.CHECK_QUORUM, self.term))
        return self._ready()

    def propose(self, data: str) -> tuple[Output, int | None]:
        """A client proposal; only a leader accepts it. Returns the index it was given, if any."""
        index = self._propose(data) if self.role == Role.LEADER else None
        return self._ready(), index

    # ----- dispatch -----------------------------------------------------------------------

    def _step(self, src: str, m: Message) -> None:
        if m.term > self.term and m.kind != Kind.HUP:
            if not self._accept_higher_term(src, m):
                return
        elif m.term < self.term:
            self._on_lower_term(src, m)
            return
        getattr(self, _HANDLERS[m.kind])(src, m)

    def _accept_higher_term(self, src: str, m: Message) -> bool:
        """A message from a higher term: usually we adopt the term and follow (paper §5.1)."""
        if m.kind in (Kind.PRE_VOTE, Kind.VOTE) and self._in_lease():
            return False  # CheckQuorum: we heard from a live leader recently; don't be disrupted
        if m.kind == Kind.PRE_VOTE or (m.kind == Kind.PRE_VOTE_REPLY and not m.reject):
            return True  # a pre-vote is about a term nobody has entered yet
        self._become_follower(m.term, src if m.kind == Kind.APPEND else None)
        return True

    def _on_lower_term(self, src: str, m: Message) -> None:
        """A message from an earlier term: requests are refused with our term so the sender
        catches up; stale replies are ignored (they describe a world that is gone)."""
        if m.kind == Kind.APPEND:
            self._send(src, Message(Kind.APPEND_REPLY, self.term, index=m.index, reject=True))
        elif m.kind in (Kind.VOTE, Kind.PRE_VOTE):
            self._send(src, Message(Kind.VOTE_REPLY if m.kind == Kind.VOTE else Kind.PRE_VOTE_REPLY,
                                    self.term, reject=True))

    # ----- roles --------------------------------------------------------------------------

    def _set_role(self, role: str) -> None:
        check_transition(self.id, self.role, role)
        if role != self.role:
            self._note("role", f"{self.role} -> {role} t{self.term}")
        self.role = role

    def _become_follower(self, term: int, leader: str | None) -> None:
        if term > self.term:
            self.term = term
            self.voted_for = None
        self._set_role(Role.FOLLOWER)
        self.leader_id = leader
        self.election_elapsed = 0
        self._reset_randomized_timeout()

    def _reset_randomized_timeout(self) -> None:
        timeout = self.config.election_timeout_ticks
        self.randomized_timeout = self._rng.randint(timeout, 2 * timeout - 1)

    # ----- commit and apply ---------------------------------------------------------------

    def _commit_to(self, index: int) -> None:
        assert index <= self.log.last_index, f"{self.id}: commit {index} beyond log end {self.log.last_index}"
        if index <= self.commit_index:
            return
        self.commit_index = index
        self._note("commit", f"up to index {index}")
        while self.applied_index < self.commit_index:
            self.applied_index += 1
            entry = self.log.entry(self.applied_index)
            self.applied.append((self.applied_index, entry))
            self._note("apply", f"{self.applied_index}={entry.describe()}")

    # ----- output and persistence ---------------------------------------------------------

    def _send(self, dst: str, message: Message) -> None:
        self._out.messages.append((dst, message))

    def _note(self, kind: str, detail: str) -> None:
        self._out.notes.append((kind, detail))

    def _hard_state_writes(self) -> dict[str, Any]:
        return {TERM_KEY: self.term, VOTE_KEY: self.voted_for}

    def _must_sync(self, hard_state_changed: bool, log_changed: bool) -> bool:
        """etcd-raft's MustSync: a new term, vote or log entries must be on disk before sending."""
        return hard_state_changed or log_changed

    def _ready(self) -> Output:
        out, self._out = self._out, Output()
        hard_state_changed = (self.term, self.voted_for) != self._persisted_hard_state
        if hard_state_changed:
            out.writes.update(self._hard_state_writes())
            self._persisted_hard_state = (self.term, self.voted_for)
        changed = self.log.take_unpersisted()
        if changed is not None:
            first, entries = changed
            for offset, entry in enumerate(entries):
                out.writes[entry_key(first + offset)] = entry
            out.writes[LOG_LAST_KEY] = self.log.last_index
        out.sync = self._must_sync(hard_state_changed, changed is not None)
        return out


