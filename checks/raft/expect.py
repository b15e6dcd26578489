"""State assertions of Raft scenarios: `expect` lines that check one node's state at their point
in the scenario and fail at their line, as etcd-raft's interaction tests print state to compare.

    expect leader n1 [term=T]        n1 is up and leads (in term T)
    expect role n1 ROLE              follower | pre-candidate | candidate | leader | down
    expect term n1 T                 n1's current term
    expect commit n2 K               n2's commit index
    expect applied n2 K              n2 has applied entries 1..K
    expect log n3 [ENTRY ...]        n3's whole log, in order; each ENTRY is TERM:DATA as reports print
                                     it (`noop` for a leader's no-op) or TERM alone to check only the term
"""

from __future__ import annotations

from collections.abc import Callable

from checks.scenario import AssertionFailed, Command, ScenarioError
from impl.raft.node import RaftNode

__all__ = ["STATE_ASSERTIONS", "validate_assertion", "check_assertion"]

ROLES = ("follower", "pre-candidate", "candidate", "leader", "down")
STATE_ASSERTIONS = ("leader", "role", "term", "commit", "applied", "log")


def validate_assertion(command: Command, filename: str, node_ids: tuple[str, ...]) -> None:
    """Raise ScenarioError (file:line) for a malformed state assertion."""
    def fail(message: str) -> ScenarioError:
        return ScenarioError(filename, command.line_no, message)

    args = command.args
    if not args or args[0] not in STATE_ASSERTIONS:
        raise fail("usage: expect held | expect violated ID | expect " + " | ".join(STATE_ASSERTIONS) + " NODE ...")
    if len(args) < 2 or args[1] not in node_ids:
        raise fail(f"expect {args[0]} needs a node, one of {', '.join(node_ids)}")
    kind, rest = args[0], args[2:]
    if kind == "leader" and not (not rest or (len(rest) == 1 and _number(rest[0].removeprefix("term=")))):
        raise fail("usage: expect leader NODE [term=T]")
    if kind == "role" and (len(rest) != 1 or rest[0] not in ROLES):
        raise fail(f"usage: expect role NODE ROLE, ROLE one of {', '.join(ROLES)}")
    if kind in ("term", "commit", "applied") and (len(rest) != 1 or not _number(rest[0])):
        raise fail(f"usage: expect {kind} NODE NUMBER")
    if kind == "log" and not all(_number(word.split(":", 1)[0]) for word in rest):
        raise fail("usage: expect log NODE [TERM:DATA | TERM ...]")


def _number(word: str) -> bool:
    return word.isdigit()


def check_assertion(command: Command, node: RaftNode | None) -> None:
    """Raise AssertionFailed saying what the node's state is, when it is not what the line says."""
    kind, node_id, rest = command.args[0], command.args[1], command.args[2:]
    if node is None:
        if kind == "role" and rest[0] == "down":
            return
        raise AssertionFailed(f"{node_id} is down")
    CHECKS[kind](node, rest)


def _leader(node: RaftNode, rest: tuple[str, ...]) -> None:
    if node.role != "leader" or (rest and node.term != int(rest[0].removeprefix("term="))):
        raise AssertionFailed(f"{node.id} is {node.role} in term {node.term}")


def _role(node: RaftNode, rest: tuple[str, ...]) -> None:
    if node.role != rest[0]:
        raise AssertionFailed(f"{node.id} is {node.role} in term {node.term}")


def _field(name: str, read: Callable[[RaftNode], int]) -> Callable[[RaftNode, tuple[str, ...]], None]:
    def check(node: RaftNode, rest: tuple[str, ...]) -> None:
        if read(node) != int(rest[0]):
            raise AssertionFailed(f"{node.id}'s {name} is {read(node)}")
    return check


def _log(node: RaftNode, rest: tuple[str, ...]) -> None:
    entries = node.log.all()
    shown = " ".join(entry.describe() for entry in entries) or "empty"
    if len(entries) != len(rest):
        noun = "entry" if len(entries) == 1 else "entries"
        raise AssertionFailed(f"{node.id}'s log has {len(entries)} {noun}: {shown}")
    for index, (entry, word) in enumerate(zip(entries, rest), start=1):
        if word != (str(entry.term) if ":" not in word else entry.describe()):
            raise AssertionFailed(f"{node.id}'s log differs at index {index}: {shown}")


CHECKS: dict[str, Callable[[RaftNode, tuple[str, ...]], None]] = {
    "leader": _leader, "role": _role, "log": _log,
    "term": _field("term", lambda node: node.term),
    "commit": _field("commit index", lambda node: node.commit_index),
    "applied": _field("applied index", lambda node: node.applied_index),
}
