"""Invariants that hold in every simulated area, whatever component is checked."""

from __future__ import annotations

from spec.invariant import ANY_AREA, Invariant

__all__ = ["INVARIANTS", "IMPL_EXCEPTION"]

IMPL_EXCEPTION = Invariant(
    "IMPL-EXCEPTION", ANY_AREA,
    "No input the world can deliver (a message, a tick, a crash, a request, a valid policy) makes the "
    "implementation raise an exception: a failed assertion, an index out of range, a missing key. Bad input "
    "is answered, never thrown.",
    "etcd-raft's panics on an out-of-range commit index (\"tocommit(%d) is out of range\"); Jepsen and "
    "etcd's robustness tests count a crashed server as a failure",
    "A server that raises on a message a peer may legally send is down until restarted, and restarts into "
    "the same message: the whole cluster can be taken down by one reordering.")

INVARIANTS = (IMPL_EXCEPTION,)
