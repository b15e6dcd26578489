"""Log replication (Raft paper §5.3 and §5.4.2; fast backtracking as in etcd-raft).
Mixed into RaftNode; uses its state and output helpers."""

from __future__ import annotations

from impl.raft.messages import Entry, Kind, Message
from impl.raft.roles import Role

__all__ = ["ReplicationMixin"]


class ReplicationMixin:
    # ----- leader -------------------------------------------------------------------------

    def _become_leader(self) -> None:
        self._set_role(Role.LEADER)
        self.leader_id = self.id
        self.next_index = {p: self.log.last_index + 1 for p in self.peers}
        self.match_index = {p: 0 for p in self.peers}
        self.heartbeat_elapsed = 0
        self.election_elapsed = 0
        self.recent_active = set()
        if self.config.noop_on_election:
            # A no-op of the new term: committing it commits every earlier entry with it (§5.4.2, §8).
            self.log.append(Entry.noop(self.term))
        self._broadcast_append()
        self._maybe_commit()

    def _tick_leader(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.config.check_quorum and self.election_elapsed >= self.config.election_timeout_ticks:
            self.election_elapsed = 0
            self._step(self.id, Message(Kind.CHECK_QUORUM, self.term))
            if self.role != Role.LEADER:
                return
        if self.heartbeat_elapsed >= self.config.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            self._broadcast_append()

    def _on_check_quorum(self, src: str, m: Message) -> None:
        """A leader that no quorum answered since the last check may be the stale side of a
        partition: it steps down (etcd-raft's stepLeader on MsgCheckQuorum)."""
        if self.role == Role.LEADER and self.config.check_quorum and not self._quorum_active():
            self._become_follower(self.term, None)

    def _quorum_active(self) -> bool:
        """CheckQuorum: has a quorum answered since the last check? Each check starts afresh, so a
        leader cut off now steps down within two election timeouts."""
        active = len(self.recent_active) + 1 >= self.quorum
        self.recent_active = set()
        return active

    def _propose(self, data: str) -> int:
        index = self.log.append(Entry(self.term, data))
        self._broadcast_append()
        self._maybe_commit()
        return index

    def _broadcast_append(self) -> None:
        for peer in self.peers:
            self._send_append(peer)

    def _send_append(self, peer: str) -> None:
        prev = self.next_index[peer] - 1
        entries = self.log.entries(prev + 1, self.config.max_entries_per_message)
        self._send(peer, Message(Kind.APPEND, self.term, index=prev, log_term=self.log.term_at(prev),
                                 entries=entries, commit=self.commit_index))

    def _on_append_reply(self, src: str, m: Message) -> None:
        if self.role != Role.LEADER:
            return
        self.recent_active.add(src)
        if m.reject:
            if m.index == self.next_index[src] - 1:  # otherwise a stale rejection: ignore it
                self.next_index[src] = self._next_after_reject(src, m)
                self._send_append(src)
            return
        acknowledged = self._acknowledged_index(m)
        self.next_index[src] = max(self.next_index[src], acknowledged + 1)
        if acknowledged <= self.match_index[src]:
            return  # a duplicate or reordered ack: the ack that advanced match already sent more
        self.match_index[src] = acknowledged
        self._maybe_commit()
        if self.next_index[src] <= self.log.last_index:
            self._send_append(src)

    def _acknowledged_index(self, m: Message) -> int:
        """What a success reply proves: the follower's log matches ours up to the index it
        names, and no further. A reply may be old: entries sent since are not covered."""
        return min(m.index, self.log.last_index)

    def _next_after_reject(self, src: str, m: Message) -> int:
        """Skip, in one step, every index that cannot match the follower's hint (etcd-raft's
        findConflictByTerm on the leader side). As in the paper, nextIndex may go below
        matchIndex: a follower that says it lacks what it once acknowledged is repaired, not
        abandoned."""
        probe = self.log.find_conflict_by_term(m.hint_index, m.hint_term)
        return max(1, min(m.index, probe + 1))

    def _maybe_commit(self) -> None:
        matched = sorted([self.log.last_index, *self.match_index.values()], reverse=True)
        index = matched[self.quorum - 1]  # the highest index stored on a quorum
        if index > self.commit_index and self._may_commit_by_counting(index):
            self._commit_to(index)

    def _may_commit_by_counting(self, index: int) -> bool:
        """§5.4.2: only an entry of the leader's current term is committed by counting replicas;
        earlier entries commit with it. Figure 8 shows what goes wrong otherwise."""
        return self.log.term_at(index) == self.term

    # ----- follower -----------------------------------------------------------------------

    def _on_append(self, src: str, m: Message) -> None:
        if self.role == Role.LEADER:
            return  # only possible if Election Safety is already broken; the checks report that
        if self.role != Role.FOLLOWER:
            self._become_follower(self.term, src)  # a leader of our term exists: stop campaigning
        self._heard_from_leader(src)
        self._accept_append(src, m)

    def _heard_from_leader(self, src: str) -> None:
        """A valid AppendEntries: the leader is alive, so the election timer starts over (§5.2)."""
        self.leader_id = src
        self.election_elapsed = 0

    def _accept_append(self, src: str, m: Message) -> None:
        if m.index < self.commit_index:
            # Everything up to our commit index already matches; say how far we are.
            self._send(src, Message(Kind.APPEND_REPLY, self.term, index=self.commit_index))
            return
        if not self.log.matches(m.index, m.log_term):
            hint = self.log.find_conflict_by_term(min(m.index, self.log.last_index), m.log_term)
            self._send(src, Message(Kind.APPEND_REPLY, self.term, index=m.index, reject=True,
                                    hint_index=hint, hint_term=self.log.term_at(hint)))
            return
        last_new = self._append_from(m.index, m.entries)
        target = self._follower_commit_target(m, last_new)
        if target > self.commit_index:
            self._commit_to(target)
        self._send(src, Message(Kind.APPEND_REPLY, self.term, index=last_new))

    def _append_from(self, prev: int, entries: tuple[Entry, ...]) -> int:
        """Append after ``prev``, truncating only at the first real conflict (§5.3, receiver
        rule 3). Entries that already match stay, so a stale or reordered AppendEntries that
        carries fewer entries cannot delete later ones. Returns the last index now verified."""
        for offset, entry in enumerate(entries):
            index = prev + 1 + offset
            if index <= self.log.last_index and self.log.term_at(index) == entry.term:
                continue
            if index <= self.log.last_index:
                self.log.truncate_after(index - 1)
            for rest in entries[offset:]:
                self.log.append(rest)
            break
        return prev + len(entries)

    def _follower_commit_target(self, m: Message, last_new: int) -> int:
        """Only up to the last entry this message verified matches the leader's log (§5.3,
        receiver rule 5): entries past it may be a stale tail that the leader will overwrite."""
        return min(m.commit, last_new)
