"""Leader election (Raft paper §5.2 and §5.4.1; PreVote and CheckQuorum from the Raft thesis
§9.6 and etcd-raft). Mixed into RaftNode; uses its state and output helpers."""

from __future__ import annotations

from impl.raft.messages import Kind, Message
from impl.raft.roles import Role

__all__ = ["ElectionMixin"]


class ElectionMixin:
    # ----- timers -------------------------------------------------------------------------

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.election_elapsed >= self.randomized_timeout:
            self.election_elapsed = 0
            self._on_hup(self.id, Message(Kind.HUP, self.term))

    def _in_lease(self) -> bool:
        """With CheckQuorum, a node that heard from a leader within the election timeout
        ignores vote requests: the leader is alive, so a campaign can only disrupt it."""
        return (self.config.check_quorum and self.leader_id is not None
                and self.election_elapsed < self.config.election_timeout_ticks)

    # ----- campaigning --------------------------------------------------------------------

    def _on_hup(self, src: str, m: Message) -> None:
        if self.role == Role.LEADER:
            return
        if self.config.pre_vote:
            self._become_pre_candidate()
        else:
            self._become_candidate()

    def _become_pre_candidate(self) -> None:
        """Ask whether we could win term+1 without entering it, so a node that was cut off
        cannot force the whole cluster into a new term when it rejoins with a stale log. As in
        etcd-raft, voters refuse a pre-vote while they hear from a leader only with CheckQuorum
        on (``_in_lease``); etcd recommends enabling both."""
        self._set_role(Role.PRE_CANDIDATE)
        self.leader_id = None
        self.votes = {self.id: True}
        self._request_votes(Kind.PRE_VOTE, self.term + 1)
        self._tally()

    def _become_candidate(self) -> None:
        self.term += 1
        self._set_role(Role.CANDIDATE)
        self.voted_for = self.id
        self.leader_id = None
        self.votes = {self.id: True}
        self.election_elapsed = 0
        self._reset_randomized_timeout()
        self._request_votes(Kind.VOTE, self.term)
        self._tally()

    def _request_votes(self, kind: str, term: int) -> None:
        for peer in self.peers:
            self._send(peer, Message(kind, term, index=self.log.last_index, log_term=self.log.last_term))

    # ----- voting -------------------------------------------------------------------------

    def _log_up_to_date(self, last_index: int, last_term: int) -> bool:
        """§5.4.1: the candidate's log is at least as up to date as ours: a later last term,
        or the same last term and at least as long. This is what makes Leader Completeness hold."""
        return (last_term, last_index) >= (self.log.last_term, self.log.last_index)

    def _on_vote_request(self, src: str, m: Message) -> None:
        can_vote = (self.voted_for == src
                    or (self.voted_for is None and self.leader_id is None)
                    or (m.kind == Kind.PRE_VOTE and m.term > self.term))
        reply_kind = Kind.VOTE_REPLY if m.kind == Kind.VOTE else Kind.PRE_VOTE_REPLY
        if can_vote and self._log_up_to_date(m.index, m.log_term):
            if m.kind == Kind.VOTE:
                self.voted_for = src  # persisted by _ready before the reply leaves
                self.election_elapsed = 0
            self._send(src, Message(reply_kind, m.term))
        else:
            self._send(src, Message(reply_kind, self.term, reject=True))

    def _on_vote_reply(self, src: str, m: Message) -> None:
        expected = Role.CANDIDATE if m.kind == Kind.VOTE_REPLY else Role.PRE_CANDIDATE
        if self.role != expected:
            return  # a late reply to an election that is already decided
        self.votes[src] = not m.reject
        self._tally()

    def _tally(self) -> None:
        granted = sum(1 for v in self.votes.values() if v)
        rejected = len(self.votes) - granted
        if granted >= self.quorum:
            if self.role == Role.PRE_CANDIDATE:
                self._become_candidate()
            else:
                self._become_leader()
        elif rejected >= self.quorum:
            self._become_follower(self.term, None)
