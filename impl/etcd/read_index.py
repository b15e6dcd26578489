"""Reads: linearizable by ReadIndex (Raft thesis §6.4; etcd's linearizableReadLoop), or
serializable from the local store. Mixed into EtcdMember.

A linearizable read must see every write that completed before it started. The local store
may be behind (a follower) or may belong to a leader that was deposed without knowing it. So:

1. The leader takes its commit index as the read index, once it has committed an entry of
   its own term (before that it does not know the latest commit index).
2. It confirms it is still the leader: a quorum answers a probe sent after the read arrived
   without having entered a later term. A newer leader needs a quorum that has, and two
   quorums share a member, so none was elected before the read arrived.
3. The read is served once the store has applied the read index.

A follower asks the leader for a read index and serves the read from its own store once it
has applied that far. A serializable read skips all of this and may be stale.
"""

from __future__ import annotations

import attrs

from impl.etcd.messages import (
    ClientRequest, ClientResponse, LeadershipAck, LeadershipProbe, ReadIndexReply, ReadIndexRequest,
)

__all__ = ["ReadIndexMixin", "PendingRead"]


@attrs.define
class PendingRead:
    """A read the leader is confirming. ``reply_to`` is ("client", client, request) or
    ("member", member, seq); ``read_index`` stays 0 until the leader has committed in its term."""

    seq: int
    term: int
    reply_to: tuple
    read_index: int = 0
    acks: set[str] = attrs.field(factory=set)
    probed_at: int = 0


class ReadIndexMixin:
    def _init_reads(self) -> None:
        self._reads: list[PendingRead] = []  # on the leader
        self._read_seq = 0
        self._forwarded: dict[int, tuple[str, ClientRequest]] = {}  # on a follower: seq -> read
        self._ready_at: list[tuple[int, str, ClientRequest]] = []  # (index, client, read) to serve

    # ----- entry points -------------------------------------------------------------------

    def _on_read(self, src: str, request: ClientRequest) -> None:
        if request.op.serializable:
            self._serve_read(src, request)
        else:
            self._linearizable_read(src, request)

    def _linearizable_read(self, src: str, request: ClientRequest) -> None:
        if self.is_leader:
            self._start_read(("client", src, request))
        elif self.raft.leader_id is not None:
            self._read_seq += 1
            self._forwarded[self._read_seq] = (src, request)
            self._out.messages.append((self.raft.leader_id, ReadIndexRequest(self._read_seq)))
        else:
            self._reply(src, ClientResponse(request.request_id, not_leader=True))

    def _serve_read(self, client: str, request: ClientRequest) -> None:
        self._reply(client, self._answer(request.request_id, lambda: self.store.execute(request.op)))

    # ----- on the leader ------------------------------------------------------------------

    def _start_read(self, reply_to: tuple) -> None:
        self._read_seq += 1
        read = PendingRead(self._read_seq, self.raft.term, reply_to, acks={self.id}, probed_at=self.now)
        self._reads.append(read)
        self._probe(read)
        self._finish_reads()

    def _probe(self, read: PendingRead) -> None:
        read.probed_at = self.now
        for peer in self.raft.peers:
            if peer not in read.acks:
                self._out.messages.append((peer, LeadershipProbe(read.term, read.seq)))

    def _on_ReadIndexRequest(self, src: str, message: ReadIndexRequest) -> None:
        if self.is_leader:
            self._start_read(("member", src, message.seq))
        else:
            self._out.messages.append((src, ReadIndexReply(message.seq, 0)))

    def _on_LeadershipProbe(self, src: str, message: LeadershipProbe) -> None:
        self._out.messages.append((src, LeadershipAck(self.raft.term, message.seq)))

    def _on_LeadershipAck(self, src: str, message: LeadershipAck) -> None:
        for read in self._reads:
            if read.seq == message.seq and message.term <= read.term:
                read.acks.add(src)

    def _leadership_confirmed(self, read: PendingRead) -> bool:
        return len(read.acks) >= self.raft.quorum

    def _committed_in_term(self) -> bool:
        return self.raft.log.term_at(self.raft.commit_index) == self.raft.term

    def _finish_leader_reads(self) -> None:
        if not self.is_leader:
            return
        still = []
        for read in self._reads:
            if not read.read_index and self._committed_in_term():
                read.read_index = self.raft.commit_index
            if read.read_index and self._leadership_confirmed(read):
                self._release(read)
            else:
                still.append(read)
        self._reads = still

    def _release(self, read: PendingRead) -> None:
        kind, who, what = read.reply_to
        if kind == "client":
            self._ready_at.append((read.read_index, who, what))
        else:
            self._out.messages.append((who, ReadIndexReply(what, read.read_index)))

    def _drop_reads(self) -> None:
        """Leadership lost: the reads in confirmation get no answer (their clients time out)."""
        self._reads = []

    # ----- on any member ------------------------------------------------------------------

    def _on_ReadIndexReply(self, src: str, message: ReadIndexReply) -> None:
        forwarded = self._forwarded.pop(message.seq, None)
        if forwarded is None:
            return
        client, request = forwarded
        if message.index == 0:
            self._reply(client, ClientResponse(request.request_id, not_leader=True))
        else:
            self._ready_at.append((message.index, client, request))

    def _finish_reads(self) -> None:
        self._finish_leader_reads()
        waiting = []
        for index, client, request in self._ready_at:
            if self.applied_index >= index:
                self._serve_read(client, request)
            else:
                waiting.append((index, client, request))
        self._ready_at = waiting

    def _tick_reads(self) -> None:
        for read in self._reads:
            if self.now - read.probed_at >= self.config.probe_resend_ticks:
                self._probe(read)
