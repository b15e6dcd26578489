"""State assertions of etcd scenarios: `expect` lines that check the state at their point in the
scenario and fail at their line (AssertionFailed), saying what they found instead.

    expect get c1 KEY VALUE          c1's last get of KEY answered VALUE (`-`: answered not found)
    expect revision N [nX]           the leader's store revision is N (with nX: that member's)
    expect leader nX [term=T]        nX is up and leads (in term T)

`expect get` asserts on what the client was told, not on the store: a read of the scenario's own
would be another request, and the point is to pin down the answer the client acted on. Its get is
the last `get` line of that client for exactly KEY (not a range, prefix or txn), whatever its
rev=, limit or serializable, as the client log kept it (impl/etcd/client_log.py, CallRecord). That
get must have answered: one still waiting, one that failed, timed out (unknown outcome) or was
refused, and a count-only or keys-only one (no value in the answer) fail the assertion, naming
which. `settle` before the line lets the answer arrive.

`expect revision N` reads the leader's applied revision now, without ticking (an assertion must
not move time): the member that leads in the highest term, the one a linearizable request would
reach. A follower may lag; name it to assert on its own revision.
"""

from __future__ import annotations

from collections.abc import Callable

from checks.etcd.cluster import EtcdCluster
from checks.etcd.requests import REVISION_MAX
from checks.scenario import AssertionFailed, Command, ScenarioError
from impl.etcd.client_log import CallRecord
from impl.etcd.member import EtcdMember
from impl.etcd.types import RangeRequest

__all__ = ["STATE_ASSERTIONS", "USAGE", "validate_assertion", "check_assertion"]

STATE_ASSERTIONS = ("get", "revision", "leader")
NOT_FOUND = "-"
USAGE = ("usage: expect held | expect violated INVARIANT-ID | expect get CLIENT KEY VALUE|- | "
         "expect revision N [MEMBER] | expect leader MEMBER [term=T]")


def validate_assertion(command: Command, filename: str, members: tuple[str, ...],
                       clients: tuple[str, ...]) -> None:
    """Raise ScenarioError (file:line) for a malformed state assertion."""
    def fail(message: str) -> ScenarioError:
        return ScenarioError(filename, command.line_no, message)

    args = command.args
    if not args or args[0] not in STATE_ASSERTIONS:
        raise fail(USAGE)
    kind, rest = args[0], args[1:]
    if kind == "get" and len(rest) != 3:
        raise fail("usage: expect get CLIENT KEY VALUE (VALUE `-`: the get answered not found)")
    if kind == "get" and rest[0] not in clients:
        raise fail(f"unknown client {rest[0]!r}; clients are {', '.join(clients)}")
    if kind == "revision" and not (1 <= len(rest) <= 2 and _number(rest[0])):
        raise fail("usage: expect revision N [MEMBER]")
    if kind == "leader" and not (1 <= len(rest) <= 2 and (len(rest) == 1 or _term(rest[1]) is not None)):
        raise fail("usage: expect leader MEMBER [term=T]")
    named = rest[1:2] if kind == "revision" else rest[:1] if kind == "leader" else ()
    for member in named:
        if member not in members:
            raise fail(f"unknown member {member!r}; members are {', '.join(members)}")


def _number(word: str) -> bool:
    return word.isdigit() and int(word) <= REVISION_MAX


def _term(word: str) -> int | None:
    value = word.removeprefix("term=")
    return int(value) if word.startswith("term=") and value.isdigit() else None


def check_assertion(command: Command, cluster: EtcdCluster) -> None:
    """Raise AssertionFailed saying what is, when it is not what the line says."""
    CHECKS[command.args[0]](cluster, command.args[1:])


# ----- expect get -------------------------------------------------------------------------

def _is_get_of(call: CallRecord, client: str, key: bytes) -> bool:
    op = call.op
    return call.client == client and isinstance(op, RangeRequest) and op.key == key and not op.range_end


def _answer(call: CallRecord, key: str) -> str | None:
    """The value the get answered (None: not found); AssertionFailed when it answered none."""
    what = f"{call.client}'s last get of {key}"
    if call.outcome is None:
        raise AssertionFailed(f"{what} has no answer yet (`settle` lets it arrive)")
    if call.outcome == "info":
        raise AssertionFailed(f"{what} has an unknown outcome (timed out or lost with its leader)")
    if call.outcome != "ok":
        raise AssertionFailed(f"{what} {'was refused by every member' if call.outcome == 'refused' else 'failed'}"
                              + (f": {call.error}" if call.error else ""))
    if call.op.count_only or call.op.keys_only:
        raise AssertionFailed(f"{what} was {'count-only' if call.op.count_only else 'keys-only'}: no value to compare")
    kvs = call.response.kvs
    return kvs[0].value.decode(errors="backslashreplace") if kvs else None


def _get(cluster: EtcdCluster, rest: tuple[str, ...]) -> None:
    client, key, expected = rest
    gets = [call for call in cluster.log.calls if _is_get_of(call, client, key.encode())]
    if not gets:
        raise AssertionFailed(f"{client} has sent no get of {key}")
    value = _answer(gets[-1], key)
    if value != (None if expected == NOT_FOUND else expected):
        found = "not found" if value is None else value
        raise AssertionFailed(f"{client}'s last get of {key} answered {found} "
                              f"(at revision {gets[-1].response.revision})")


# ----- expect revision, expect leader -----------------------------------------------------

def _leader(cluster: EtcdCluster) -> tuple[str, EtcdMember] | None:
    """The member that leads in the highest term: a deposed leader cut off may still think it leads."""
    leading = [(member.raft.term, member_id, member) for member_id in cluster.member_ids
               if (member := cluster.member(member_id)) is not None and member.is_leader]
    return max(leading, key=lambda found: found[0])[1:] if leading else None


def _revision(cluster: EtcdCluster, rest: tuple[str, ...]) -> None:
    expected = int(rest[0])
    if len(rest) == 2:
        member_id, member = rest[1], cluster.member(rest[1])
        if member is None:
            raise AssertionFailed(f"{member_id} is down")
        whose = f"{member_id}'s"
    else:
        found = _leader(cluster)
        if found is None:
            raise AssertionFailed("no member leads")
        member_id, member = found
        whose = f"the leader {member_id}'s"
    if member.store.revision != expected:
        raise AssertionFailed(f"{whose} revision is {member.store.revision}")


def _leader_of(cluster: EtcdCluster, rest: tuple[str, ...]) -> None:
    member_id, member = rest[0], cluster.member(rest[0])
    if member is None:
        raise AssertionFailed(f"{member_id} is down")
    term = _term(rest[1]) if len(rest) == 2 else None
    if not member.is_leader or (term is not None and member.raft.term != term):
        raise AssertionFailed(f"{member_id} is {member.raft.role} in term {member.raft.term}")


CHECKS: dict[str, Callable[[EtcdCluster, tuple[str, ...]], None]] = {
    "get": _get, "revision": _revision, "leader": _leader_of,
}
