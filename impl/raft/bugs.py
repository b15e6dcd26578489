"""The Raft bug catalog: each bug is a RaftNode subclass overriding one small method.

Read each override next to the reference method it replaces (named in its docstring): the
difference is the lesson. REFERENCE.md lists the real systems where each pattern happened.
"""

from __future__ import annotations

from typing import Any

from impl.catalog import Bug
from impl.raft.messages import Entry, Kind, Message
from impl.raft.node import RaftNode
from impl.raft.roles import Role
from impl.raft.storage import TERM_KEY, VOTE_KEY

__all__ = ["BUGS"]


class CommitPreviousTerm(RaftNode):
    """Replaces ReplicationMixin._may_commit_by_counting."""

    def _may_commit_by_counting(self, index: int) -> bool:
        return True  # counts replicas of an entry of any term: Figure 8


class VoteNotPersisted(RaftNode):
    """Replaces RaftNode._hard_state_writes."""

    def _hard_state_writes(self) -> dict[str, Any]:
        return {TERM_KEY: self.term}  # votedFor lives only in memory: a restart forgets it


class TermNotPersisted(RaftNode):
    """Replaces RaftNode._hard_state_writes."""

    def _hard_state_writes(self) -> dict[str, Any]:
        return {VOTE_KEY: self.voted_for}  # currentTerm lives only in memory


class GrantVoteToStaleLog(RaftNode):
    """Replaces ElectionMixin._log_up_to_date."""

    def _log_up_to_date(self, last_index: int, last_term: int) -> bool:
        return True  # votes for any candidate, however far behind its log is


class TruncateOnStaleAppend(RaftNode):
    """Replaces ReplicationMixin._append_from."""

    def _append_from(self, prev: int, entries: tuple[Entry, ...]) -> int:
        self.log.truncate_after(prev)  # always cut after prevLogIndex, even when what follows matches
        for entry in entries:
            self.log.append(entry)
        return prev + len(entries)


class KeepConflictingTail(RaftNode):
    """Replaces ReplicationMixin._append_from."""

    def _append_from(self, prev: int, entries: tuple[Entry, ...]) -> int:
        for offset, entry in enumerate(entries):
            self.log.put(prev + 1 + offset, entry)  # overwrites in place; a conflicting tail survives
        return prev + len(entries)


class CommitBeyondMatch(RaftNode):
    """Replaces ReplicationMixin._accept_append: commits before the consistency check."""

    def _accept_append(self, src: str, m: Message) -> None:
        target = min(m.commit, self.log.last_index)  # over a tail nobody has verified yet
        if target > self.commit_index:
            self._commit_to(target)
        super()._accept_append(src, m)


class StaleReplyMovesMatchIndex(RaftNode):
    """Replaces ReplicationMixin._acknowledged_index."""

    def _acknowledged_index(self, m: Message) -> int:
        return self.log.last_index  # takes any ack, however old, as covering the whole log


class AcceptStaleTermAppend(RaftNode):
    """Replaces RaftNode._on_lower_term."""

    def _on_lower_term(self, src: str, m: Message) -> None:
        if m.kind == Kind.APPEND and self.role == Role.LEADER:
            self._accept_append(src, m)  # a leader obeys a deposed leader of an earlier term
        else:
            super()._on_lower_term(src, m)


class AckBeforeSync(RaftNode):
    """Replaces RaftNode._must_sync."""

    def _must_sync(self, hard_state_changed: bool, log_changed: bool) -> bool:
        return hard_state_changed  # appended entries are acknowledged while still in the page cache


class RejectDoesNotBacktrack(RaftNode):
    """Replaces ReplicationMixin._next_after_reject."""

    def _next_after_reject(self, src: str, m: Message) -> int:
        return self.next_index[src]  # retries the same prevLogIndex forever


class CommitPastLogEnd(RaftNode):
    """Replaces ReplicationMixin._follower_commit_target."""

    def _follower_commit_target(self, m: Message, last_new: int) -> int:
        return m.commit  # the leader's commit index, although our log may end before it


class FollowerIgnoresHeartbeats(RaftNode):
    """Replaces ReplicationMixin._heard_from_leader."""

    def _heard_from_leader(self, src: str) -> None:
        self.leader_id = src  # the election timer keeps running: the follower campaigns anyway


class PreVoteBumpsTerm(RaftNode):
    """Replaces ElectionMixin._become_pre_candidate."""

    def _become_pre_candidate(self) -> None:
        self.term += 1  # the "pre" vote enters the new term for real, so a cut-off node's term climbs
        self.voted_for = None
        super()._become_pre_candidate()


class LeaderNeverForgetsActivity(RaftNode):
    """Replaces ReplicationMixin._quorum_active."""

    def _quorum_active(self) -> bool:
        return len(self.recent_active) + 1 >= self.quorum  # followers heard once count forever


PAPER = "Raft paper"
THESIS = "Ongaro, Consensus: Bridging Theory and Practice (2014)"
BUGS: tuple[Bug, ...] = (
    Bug("figure8-commit-previous-term", "raft", "RAFT-APPLIED-IS-COMMITTED",
        "a leader commits an entry of an earlier term by counting replicas",
        f"{PAPER} §5.4.2 and Figure 8; PySyncObj #169", CommitPreviousTerm),
    Bug("vote-not-persisted", "raft", "RAFT-ELECTION-SAFETY",
        "votedFor is not written to disk, so a restarted node votes twice in one term",
        f"{PAPER} Figure 2 (persistent state); REFERENCE.md pattern 2", VoteNotPersisted),
    Bug("term-not-persisted", "raft", "RAFT-ELECTION-SAFETY",
        "currentTerm is not written to disk, so a restarted node forgets the term it voted in",
        f"{PAPER} Figure 2 (persistent state); REFERENCE.md pattern 3", TermNotPersisted),
    Bug("grant-vote-to-stale-log", "raft", "RAFT-LEADER-COMPLETENESS",
        "votes are granted without the log up-to-date check",
        f"{PAPER} §5.4.1 (election restriction); REFERENCE.md pattern 7", GrantVoteToStaleLog),
    Bug("truncate-on-stale-append", "raft", "RAFT-COMMITTED-DURABLE",
        "a follower truncates after prevLogIndex on every AppendEntries, so a stale one deletes entries, "
        "committed ones included",
        f"{PAPER} §5.3 receiver rule 3 (truncate only on conflict); REFERENCE.md pattern 5",
        TruncateOnStaleAppend),
    Bug("keep-conflicting-tail", "raft", "RAFT-LOG-MATCHING",
        "a follower overwrites conflicting entries in place but keeps the stale entries after them",
        f"{PAPER} §5.3 receiver rule 3; REFERENCE.md pattern 6", KeepConflictingTail),
    Bug("commit-beyond-match", "raft", "RAFT-STATE-MACHINE-SAFETY",
        "a follower advances its commit index from leaderCommit before checking that its log matches the leader's",
        f"{PAPER} §5.3 receiver rules 2 and 5; REFERENCE.md pattern 4", 
        CommitBeyondMatch),
    Bug("stale-reply-moves-match-index", "raft", "RAFT-APPLIED-IS-COMMITTED",
        "a leader takes a stale AppendEntries reply as acknowledging its whole log, so matchIndex passes what "
        "the follower holds and the leader commits entries a majority does not have",
        f"{PAPER} §5.3 (matchIndex); REFERENCE.md pattern 8", StaleReplyMovesMatchIndex),
    Bug("accept-stale-term-append", "raft", "RAFT-LEADER-APPEND-ONLY",
        "a leader applies AppendEntries from a deposed leader of an earlier term to its own log",
        f"{PAPER} §5.1 and Figure 2 (reply false if term < currentTerm)", AcceptStaleTermAppend),
    Bug("ack-before-sync", "raft", "RAFT-COMMITTED-DURABLE",
        "a follower acknowledges appended entries before syncing them to disk",
        f"{PAPER} Figure 2 (persist before responding); etcd robustness tests (lost writes on kill)",
        AckBeforeSync),
    Bug("reject-does-not-backtrack", "raft", "RAFT-LIVENESS",
        "a leader does not move nextIndex back after a rejected AppendEntries, so a lagging follower never catches up",
        f"{PAPER} §5.3 (decrement nextIndex and retry); MIT 6.5840 'fast backup' test", RejectDoesNotBacktrack),
    Bug("commit-past-log-end", "raft", "IMPL-EXCEPTION",
        "a follower sets its commit index to the leader's, past the end of its own log, and trips over it",
        f"{PAPER} §5.3 receiver rule 5 (min of leaderCommit and the last new entry); etcd-raft's "
        "'tocommit(%d) is out of range [lastIndex(%d)]' panic", CommitPastLogEnd),
    Bug("follower-ignores-heartbeats", "raft", "RAFT-LEADER-STABLE",
        "a follower does not reset its election timer on a valid AppendEntries, so it campaigns against a "
        "healthy leader", f"{PAPER} §5.2; redpanda #30817 (a follower in recovery did not refresh its election "
        "timer on AppendEntries and kept campaigning against a live leader)",
        FollowerIgnoresHeartbeats),
    Bug("prevote-bumps-term", "raft", "RAFT-PREVOTE-NO-DISRUPTION",
        "a pre-candidate enters the next term for real, so a node cut off by a partition comes back with a "
        "higher term and deposes the leader", f"{THESIS} §9.6; etcd-raft's PreVote", PreVoteBumpsTerm),
    Bug("leader-never-forgets-activity", "raft", "RAFT-CHECKQUORUM-STEPDOWN",
        "a leader's CheckQuorum counts every follower it ever heard from, so a leader cut off by a partition "
        "never steps down", f"{THESIS} §6.2; etcd-raft's checkQuorum (RecentActive reset each election "
        "timeout)", LeaderNeverForgetsActivity),
)
