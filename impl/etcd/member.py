"""One etcd member: a Raft node, the MVCC store applied from its log, and the client-facing
request paths (etcd's EtcdServer, reduced to what the reference needs). Sans-I/O like the
Raft node: ``tick()`` and ``step(src, message)`` return an ``Output``.

- **Writes** (put, delete, txn, compact, lease grant and revoke) are proposed by the leader as
  ``Proposal`` entries; every member applies committed entries to its own store in log order,
  so every store passes through the same revisions. The proposer answers when its entry
  applies; if another entry took that index, the request's outcome is unknown to it.
- **Reads** (read_index.py): linearizable by ReadIndex, serializable from the local store.
- **Watches** (watch_streams.py): per-client streams fed as entries apply.
- **Leases**: only the leader keeps deadlines. Keep-alives go to it; when a lease expires it
  proposes the revoke, which deletes the attached keys on every member (etcd's primary lessor).
  A new leader restarts every deadline at now + TTL (lessor.Promote), so a keep-alive sent
  just before a leader change is never lost to it. A keep-alive or time-to-live is answered
  only after the leader confirmed it still leads and applied its read index, as a
  linearizable read (etcd's ensureLeadership, PR #16822: a deposed leader must not renew a
  lease the new leader revoked); a keep-alive of a lease that expired but whose revocation
  has not applied yet waits for it, then answers "lease not found" (lessor.Renew).

The store is not persisted: a restarted member rebuilds it by applying the log from index 1
as it learns the commit index again (etcd replays its WAL on top of a snapshot; without
snapshots the result is the same).
"""

from __future__ import annotations

import random
from typing import Any

import attrs

from impl.etcd.errors import ErrLeaseNotFound, EtcdError
from impl.etcd.keyspace import ALL_KEYS
from impl.etcd.messages import (
    EXPIRY, ClientRequest, ClientResponse, CompactionRequest, LeaseGrantRequest,
    LeaseKeepAliveRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest, Proposal,
)
from impl.etcd.mvcc import Store
from impl.etcd.read_index import ReadIndexMixin
from impl.etcd.types import Event, RangeRequest
from impl.etcd.watch_streams import WatchStreamsMixin
from impl.raft.config import RaftConfig
from impl.raft.messages import Entry, Message
from impl.raft.node import RaftNode
from impl.raft.roles import Role
from impl.sim.disk import Disk
from impl.sim.world import Output

__all__ = ["EtcdMember", "MemberConfig", "AppliedChange"]


@attrs.frozen
class MemberConfig:
    watch_batch_revisions: int = 1  # revisions a stream sends per tick while it catches up
    progress_notify_ticks: int = 10  # a synced stream with progress_notify hears this often
    probe_resend_ticks: int = 2  # a leader re-asks for leadership acks this often


@attrs.frozen
class AppliedChange:
    """What applying one log entry did to this member's store: the observation the checks
    use for revisions and for the committed history the watches are judged against."""

    index: int
    proposal: Proposal | None  # None for the leader's no-op
    revision_before: int
    revision_after: int
    events: tuple[Event, ...]
    error: str | None = None  # the etcd error the request failed with, if it did
    response: Any = None  # what the store answered, if it did not fail


class EtcdMember(ReadIndexMixin, WatchStreamsMixin):
    raft_class: type[RaftNode] = RaftNode
    store_class: type[Store] = Store

    def __init__(self, node_id: str, members: tuple[str, ...], disk: Disk, rng: random.Random,
                 config: MemberConfig = MemberConfig(), raft_config: RaftConfig = RaftConfig()) -> None:
        self.id = node_id
        self.config = config
        self.raft = self.raft_class(node_id, members, disk, rng, raft_config)
        self.store = self.store_class()
        self.now = 0
        self.applied_index = 0  # the last log index applied to the store
        self.applied_changes: list[AppliedChange] = []
        self._tap = self.store.watch(b"\0", ALL_KEYS)  # sees every event: the observation
        self._applied_upto = 0  # how much of the Raft node's apply stream the store has seen
        self._waiting: dict[int, tuple[str, int]] = {}  # log index -> (client, request_id)
        self._leader_term = 0  # the term we lead, 0 when we do not
        self._revoking: set[int] = set()  # expired leases whose revoke we proposed this term
        self._known_leader: str | None = None
        self._renewals: dict[int, list[tuple[str, int]]] = {}  # expired lease -> keep-alives waiting
        self._out = Output()
        self._init_reads()
        self._init_watches()

    # ----- inputs -------------------------------------------------------------------------

    def tick(self) -> Output:
        self.now += 1
        self._out.extend(self.raft.tick())
        self._after_raft()
        self._tick_reads()
        self._tick_leases()
        self._tick_watches()
        return self._ready()

    def step(self, src: str, message: Any) -> Output:
        if isinstance(message, Message):
            self._out.extend(self.raft.step(src, message))
        else:
            getattr(self, f"_on_{type(message).__name__}")(src, message)
        self._after_raft()
        return self._ready()

    def campaign(self) -> Output:
        self._out.extend(self.raft.campaign())
        self._after_raft()
        return self._ready()

    @property
    def is_leader(self) -> bool:
        return self.raft.role == Role.LEADER

    # ----- client requests ----------------------------------------------------------------

    def _on_ClientRequest(self, src: str, request: ClientRequest) -> None:
        if isinstance(request.op, RangeRequest):
            self._on_read(src, request)
        elif not self.is_leader:
            self._reply(src, ClientResponse(request.request_id, not_leader=True,
                                            leader_hint=self.raft.leader_id))
        elif isinstance(request.op, (LeaseKeepAliveRequest, LeaseTimeToLiveRequest)):
            self._start_read(("client", src, request))  # only the leader keeps deadlines
        else:
            index = self._propose(Proposal(src, request.request_id, request.op))
            self._waiting[index] = (src, request.request_id)

    def _serve_read(self, client: str, request: ClientRequest) -> None:
        """A read whose read index has applied; lease reads are answered from the lessor."""
        op = request.op
        if isinstance(op, RangeRequest):
            super()._serve_read(client, request)
        elif not self.is_leader:  # leadership moved on meanwhile: ask the new leader
            self._reply(client, ClientResponse(request.request_id, not_leader=True,
                                               leader_hint=self.raft.leader_id))
        elif isinstance(op, LeaseTimeToLiveRequest):
            self._reply(client, self._answer(
                request.request_id, lambda: self.store.lease_time_to_live(op.id, op.keys, now=self.now)))
        elif self.store.lease_due(op.id, self.now):
            self._renewals.setdefault(op.id, []).append((client, request.request_id))
        else:
            self._reply(client, self._answer(request.request_id,
                                             lambda: self.store.lease_keep_alive(op.id, self.now)))

    def _answer_renewals(self, lease_id: int | None) -> None:
        """Keep-alives of an expired lease: "not found" once its revocation applied; on
        losing leadership (``lease_id`` None) every one, "not leader"."""
        for waiting_id in sorted(self._renewals):
            if lease_id is not None and waiting_id != lease_id:
                continue
            for client, request_id in self._renewals.pop(waiting_id):
                if lease_id is None:
                    reply = ClientResponse(request_id, not_leader=True, leader_hint=self.raft.leader_id)
                else:
                    reply = ClientResponse(request_id, error=str(ErrLeaseNotFound()))
                self._reply(client, reply)

    def _propose(self, proposal: Proposal) -> int:
        output, index = self.raft.propose(proposal)
        self._out.extend(output)
        assert index is not None, "only the leader proposes"
        return index

    def _reply(self, client: str, response: Any) -> None:
        self._out.messages.append((client, response))

    @staticmethod
    def _answer(request_id: int, action) -> ClientResponse:
        try:
            return ClientResponse(request_id, response=action())
        except EtcdError as error:
            return ClientResponse(request_id, error=str(error))

    # ----- applying the log ---------------------------------------------------------------

    def _after_raft(self) -> None:
        applied = self.raft.applied
        while self._applied_upto < len(applied):
            index, entry = applied[self._applied_upto]
            self._applied_upto += 1
            self._apply_entry(index, entry)
        self._notice_leadership()
        self._finish_reads()

    def _apply_entry(self, index: int, entry: Entry) -> None:
        proposal = entry.data if isinstance(entry.data, Proposal) else None
        before = self.store.revision
        result = None
        if proposal is not None:
            result = self._answer(proposal.request_id, lambda: self._execute(proposal.op))
        self.applied_index = index
        error = result.error if result is not None else None
        answer = result.response if result is not None else None
        self.applied_changes.append(AppliedChange(index, proposal, before, self.store.revision,
                                                  tuple(self._tap.take()), error, answer))
        waiting = self._waiting.pop(index, None)
        if waiting is not None:
            self._answer_proposer(waiting, proposal, result)
        if proposal is not None and isinstance(proposal.op, LeaseRevokeRequest):
            self._answer_renewals(proposal.op.id)
        self._feed_streams()

    def _answer_proposer(self, waiting: tuple[str, int], proposal: Proposal | None,
                         result: ClientResponse | None) -> None:
        client, request_id = waiting
        if proposal is not None and (proposal.client, proposal.request_id) == waiting:
            self._reply(client, result)
        else:  # a new leader overwrote our entry; we cannot tell whether a retry got in
            self._reply(client, ClientResponse(request_id, unknown="proposal replaced by a new leader"))

    def _execute(self, op: Any) -> Any:
        if isinstance(op, CompactionRequest):
            return self.store.compact(op.revision)
        if isinstance(op, LeaseGrantRequest):
            return self.store.lease_grant(op.id, op.ttl, now=self.now)
        if isinstance(op, LeaseRevokeRequest):
            response = self.store.lease_revoke(op.id)
            self._lease_gone(op.id)
            return response
        return self.store.execute(op)

    # ----- leadership and leases ----------------------------------------------------------

    def _notice_leadership(self) -> None:
        if self.is_leader and self._leader_term != self.raft.term:
            self._leader_term = self.raft.term
            # As etcd's lessor.Promote(extend): deadlines restart at now + TTL + an election
            # timeout, so a client's keep-alive has time to find the new leader.
            self.store.lease_promote(self.now + self.raft.config.election_timeout_ticks)
            self._revoking.clear()
        elif not self.is_leader and self._leader_term:
            self._leader_term = 0
            self._revoking.clear()
            self._drop_reads()
            self._answer_renewals(None)
        if self.raft.leader_id != self._known_leader:
            self._leader_changed(self._known_leader, self.raft.leader_id)
            self._known_leader = self.raft.leader_id

    def _leader_changed(self, old: str | None, new: str | None) -> None:
        """Watch streams are require-leader streams (clientv3.WithRequireLeader, as the API
        server opens them): a member that lost its leader cancels them, so their clients resume
        on a member that still gets the cluster's changes. (etcd's monitorLeader waits up to
        three election timeouts; this member cancels at once.)"""
        if new is None:
            self._cancel_streams("etcdserver: no leader")

    def _lease_gone(self, lease_id: int) -> None:
        """A revoke applied: the leader may propose the revocation of a later lease with this ID
        (the store hands out the lowest free ID, so IDs come back; etcd's are random)."""
        self._revoking.discard(lease_id)

    def _tick_leases(self) -> None:
        if not self.is_leader:
            return
        for lease_id in self.store.expired_leases(self.now):
            if lease_id not in self._revoking:
                self._revoking.add(lease_id)
                self._propose(Proposal(EXPIRY, lease_id, LeaseRevokeRequest(lease_id)))

    # ----- output -------------------------------------------------------------------------

    def _ready(self) -> Output:
        out, self._out = self._out, Output()
        return out
