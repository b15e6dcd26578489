"""Leases, deterministic and sans-I/O: time is an integer tick the caller passes in.

etcd's "API" page (Lease API) and "Interacting with etcd" (grant, keep-alive, revoke,
time-to-live, list): a lease has an ID and a TTL; keys are attached to it by a put naming it;
when the lease is revoked, or expires, every attached key is deleted. etcd's lessor
(server/lease/lessor.go) keeps the rules modelled here:

- Grant: an ID already in use fails with ErrLeaseExist; a TTL above MAX_LEASE_TTL fails with
  ErrLeaseTTLTooLarge; a TTL below the minimum is raised to it (the response reports the TTL
  actually granted). ID 0 asks the server to choose one.
- The deadline is now + TTL; keep-alive moves it to now + TTL. A lease whose deadline is at or
  before `now` has expired: the leader (etcd's "primary lessor") finds it and proposes its
  revocation, which every member applies like a client's revoke.
- Keep-alive of an expired lease that is not yet revoked fails with ErrLeaseNotFound (etcd
  waits for the pending revocation, then answers that).

The lessor only keeps the lease table; deleting attached keys is the store's job (mvcc.py).
"""

from __future__ import annotations

import attrs

from impl.etcd.errors import ErrLeaseExist, ErrLeaseNotFound, ErrLeaseTTLTooLarge

__all__ = ["Lease", "Lessor", "MAX_LEASE_TTL", "MIN_LEASE_TTL", "NO_LEASE"]

NO_LEASE = 0
MAX_LEASE_TTL = 9_000_000_000  # lease.MaxLeaseTTL
# etcd's minimum is ceil(3/2 election timeout): 2 s with the default 100 ms heartbeat and
# 1 s election timeout. With one tick per second that is 2 ticks.
MIN_LEASE_TTL = 2


@attrs.define(eq=False)
class Lease:
    """One lease: granted TTL, current deadline (a tick), and the keys attached to it."""

    id: int
    ttl: int
    deadline: int
    keys: set[bytes] = attrs.field(factory=set)

    def expired(self, now: int) -> bool:
        return self.deadline <= now

    def remaining(self, now: int) -> int:
        """Ticks left before expiry, never below 0."""
        return max(self.deadline - now, 0)


class Lessor:
    """The lease table: grant, renew, look up, attach and detach keys, find expired leases."""

    def __init__(self, min_ttl: int = MIN_LEASE_TTL) -> None:
        self.min_ttl = min_ttl
        self._leases: dict[int, Lease] = {}
        self._next_id = 1

    def grant(self, lease_id: int, ttl: int, now: int) -> Lease:
        """lessor.Grant: a new lease with at least the minimum TTL, due at now + TTL."""
        if ttl > MAX_LEASE_TTL:
            raise ErrLeaseTTLTooLarge()
        lease_id = lease_id or self._free_id()
        if lease_id in self._leases:
            raise ErrLeaseExist()
        ttl = max(ttl, self.min_ttl)
        lease = Lease(lease_id, ttl, now + ttl)
        self._leases[lease_id] = lease
        return lease

    def _free_id(self) -> int:
        """The next unused ID (etcd draws one from its request ID generator; this store counts
        from 1 so replicas applying the same log choose the same IDs)."""
        while self._next_id in self._leases:
            self._next_id += 1
        return self._next_id

    def lookup(self, lease_id: int) -> Lease | None:
        return self._leases.get(lease_id)

    def get(self, lease_id: int) -> Lease:
        """The lease, or ErrLeaseNotFound."""
        lease = self._leases.get(lease_id)
        if lease is None:
            raise ErrLeaseNotFound()
        return lease

    def renew(self, lease_id: int, now: int) -> Lease:
        """lessor.Renew: push the deadline to now + TTL; an expired lease cannot be renewed."""
        lease = self.get(lease_id)
        if lease.expired(now):
            raise ErrLeaseNotFound()
        lease.deadline = now + lease.ttl
        return lease

    def promote(self, now: int) -> None:
        """lessor.Promote: a new leader restarts every deadline from `now` (followers do not
        track expiry, so the old leader's deadlines are unknown to it)."""
        for lease in self._leases.values():
            lease.deadline = now + lease.ttl

    def remove(self, lease_id: int) -> Lease:
        lease = self.get(lease_id)
        del self._leases[lease_id]
        return lease

    def attach(self, lease_id: int, key: bytes) -> None:
        if lease_id != NO_LEASE:
            self.get(lease_id).keys.add(key)

    def detach(self, lease_id: int, key: bytes) -> None:
        lease = self._leases.get(lease_id)
        if lease is not None:
            lease.keys.discard(key)

    def expired(self, now: int) -> list[int]:
        """IDs of the leases due at or before `now`, soonest first (ties by ID)."""
        due = [lease for lease in self._leases.values() if lease.expired(now)]
        return [lease.id for lease in sorted(due, key=lambda lease: (lease.deadline, lease.id))]

    def by_expiry(self) -> list[Lease]:
        """Every lease, soonest deadline first (lessor.Leases sorts by expiry)."""
        return sorted(self._leases.values(), key=lambda lease: (lease.deadline, lease.id))
