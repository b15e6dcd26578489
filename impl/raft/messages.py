"""Raft's one message type, its kinds, and log entries (Raft paper §5, Figure 2; etcd-raft's
raftpb.Message uses the same single shape with a type field)."""

from __future__ import annotations

import attrs

__all__ = ["Entry", "Kind", "Message"]


@attrs.frozen
class Entry:
    term: int
    data: str  # "" for the no-op a new leader appends

    @classmethod
    def noop(cls, term: int) -> "Entry":
        return cls(term, "")

    def describe(self) -> str:
        return f"{self.term}:{self.data or 'noop'}"


class Kind:
    """Message kinds. Local events (a timeout firing) are messages too, as in etcd-raft."""

    HUP = "Hup"  # local: the election timer fired, start an election
    CHECK_QUORUM = "CheckQuorum"  # local: a leader's election timeout elapsed, check that a quorum answered
    PRE_VOTE = "PreVote"
    PRE_VOTE_REPLY = "PreVoteReply"
    VOTE = "RequestVote"
    VOTE_REPLY = "RequestVoteReply"
    APPEND = "AppendEntries"
    APPEND_REPLY = "AppendEntriesReply"


@attrs.frozen
class Message:
    """One Raft message.

    For votes, ``index``/``log_term`` are the candidate's last log index and term. For
    AppendEntries they are prevLogIndex/prevLogTerm and ``commit`` is the leader's commit index.
    A successful AppendEntries reply carries in ``index`` the last index now known to match; a
    rejection carries the rejected prevLogIndex and, for fast backtracking, ``hint_index`` and
    ``hint_term``: the follower's last entry that could still match.
    """

    kind: str
    term: int
    index: int = 0
    log_term: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    hint_index: int = 0
    hint_term: int = 0

    def describe(self) -> str:
        if self.kind in (Kind.VOTE, Kind.PRE_VOTE):
            return f"{self.kind} t{self.term} last={self.index}:{self.log_term}"
        if self.kind in (Kind.VOTE_REPLY, Kind.PRE_VOTE_REPLY):
            return f"{self.kind} t{self.term} {'reject' if self.reject else 'grant'}"
        if self.kind == Kind.APPEND:
            shown = ",".join(f"{e.describe()}" for e in self.entries)
            return f"{self.kind} t{self.term} prev={self.index}:{self.log_term} [{shown}] commit={self.commit}"
        if self.kind == Kind.APPEND_REPLY:
            if self.reject:
                return f"{self.kind} t{self.term} reject {self.index} hint={self.hint_index}:{self.hint_term}"
            return f"{self.kind} t{self.term} ok {self.index}"
        return f"{self.kind} t{self.term}"
