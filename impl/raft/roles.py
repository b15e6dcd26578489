"""Raft roles and the transitions between them, as data (STYLE.md, "transition tables")."""

from __future__ import annotations

__all__ = ["Role", "TRANSITIONS", "check_transition", "IllegalTransition"]


class Role:
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


TRANSITIONS: dict[str, frozenset[str]] = {
    Role.FOLLOWER: frozenset({Role.FOLLOWER, Role.PRE_CANDIDATE, Role.CANDIDATE}),
    Role.PRE_CANDIDATE: frozenset({Role.FOLLOWER, Role.PRE_CANDIDATE, Role.CANDIDATE}),
    Role.CANDIDATE: frozenset({Role.FOLLOWER, Role.PRE_CANDIDATE, Role.CANDIDATE, Role.LEADER}),
    Role.LEADER: frozenset({Role.FOLLOWER}),
}


class IllegalTransition(AssertionError):
    pass


def check_transition(node_id: str, old: str, new: str) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"{node_id}: illegal role transition {old} -> {new}")
