"""Options of a Raft node. Defaults follow etcd-raft where it has one."""

from __future__ import annotations

import attrs

__all__ = ["RaftConfig"]


@attrs.frozen
class RaftConfig:
    # A follower that hears nothing for a random number of ticks in
    # [election_timeout_ticks, 2 * election_timeout_ticks) campaigns (etcd-raft's randomization).
    election_timeout_ticks: int = 10
    heartbeat_ticks: int = 2
    # etcd-raft's MaxSizePerMsg, counted in entries. A small limit ships an old entry without the
    # new leader's no-op, which is what lets the Figure 8 scenario happen at all.
    max_entries_per_message: int = 1
    noop_on_election: bool = True  # the practical fix for Figure 8: commits earlier terms with it
    pre_vote: bool = False  # a would-be candidate first asks whether it could win (Raft thesis §9.6)
    check_quorum: bool = False  # a leader that hears from no quorum for a timeout steps down

    def __attrs_post_init__(self) -> None:
        assert self.heartbeat_ticks < self.election_timeout_ticks, "heartbeats must beat the election timeout"
        assert self.max_entries_per_message >= 1
