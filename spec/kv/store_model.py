"""The etcd store as a sequential model that gives whole responses, not only values.

``spec.kv.model.KV`` knows values: enough to say whether reads return what was written, not
whether the rest of a response is right. This model answers every request the way a single
etcd v3.5 server would, field for field (etcd docs, "Data model", "API" and "API guarantees";
the deterministic model of etcd's robustness tests, tests/robustness/model): the header
revision, each key's create_revision, mod_revision, version and lease, count and more of a
range, a read at a past revision, the error a request fails with (ErrCompacted, ErrFutureRev,
ErrLeaseNotFound...), the events each change produces, and the lease answers (a keep-alive of
a revoked lease is ErrLeaseNotFound; its time-to-live says TTL -1).

- A state (``StoreState``) is an immutable value: the revision, the compacted revision, the
  live keys, the leases, and the keys as of every earlier revision (``past``), so that a read
  at revision R sees exactly the keys alive at R.
- ``StoreModel.step(state, request, actual)`` returns the next state, the response the model
  expects (a *shape*: nested dicts named by etcd's protobuf fields, or ``{"error": name}``)
  and the events the change produced. ``actual`` is the response that was received, in the
  same shape: where etcd may choose (the ID of a lease granted with ID 0, the time left on a
  lease) the model accepts any valid choice and continues from the one that was made.
- ``difference(expected, actual)`` names the first field where a response departs from it.

Requests are read by their etcd message name (the class name: RangeRequest, PutRequest,
DeleteRangeRequest, TxnRequest, CompactionRequest, LeaseGrantRequest, LeaseRevokeRequest,
LeaseKeepAliveRequest, LeaseTimeToLiveRequest) and etcd's field names, so values decoded from
any implementation can be judged. The module imports nothing from ``impl`` or ``checks``.

Rules the reference and etcd 3.5.1 share (checked against a real server by
tests/test_etcd_differential.py): a txn checks its branch's puts (key, then lease) before its
ranges (future or compacted revision), a plain put checks the lease first; a delete whose
range_end is "\\0" escapes the txn overlap check; a put with ignore_value after such a delete
of its key in the same branch is refused with ErrKeyNotFound (etcd 3.5.1 panics there).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from spec.kv.watch import ALL_KEYS, in_range

__all__ = ["KeyState", "StoreState", "Outcome", "StoreModel", "FreeLeaseId", "AtLeast",
           "difference", "describe", "MAX_LEASE_TTL", "MAX_TXN_OPS"]

MAX_LEASE_TTL = 9_000_000_000  # etcd's lease.MaxLeaseTTL
MAX_TXN_OPS = 128  # etcd's --max-txn-ops default


@dataclass(frozen=True)
class KeyState:
    create_revision: int
    mod_revision: int
    version: int
    value: bytes
    lease: int


Keys = tuple[tuple[bytes, KeyState], ...]  # sorted by key


@dataclass(frozen=True)
class StoreState:
    """``past[r - 1]`` holds the keys as of revision r (the current revision included);
    ``leases`` pairs each lease ID with its granted TTL. compact_revision -1 is etcd's
    "never compacted"."""

    revision: int = 1
    compact_revision: int = -1
    keys: Keys = ()
    leases: tuple[tuple[int, int], ...] = ()
    past: tuple[Keys, ...] = ((),)

    def keys_at(self, revision: int) -> Keys:
        return self.past[revision - 1]

    def attached(self, lease_id: int) -> tuple[bytes, ...]:
        """The keys attached to the lease, sorted."""
        return tuple(key for key, state in self.keys if state.lease == lease_id)


@dataclass(frozen=True)
class Outcome:
    state: StoreState
    expected: dict
    events: tuple[dict, ...] = ()


# ---- choices etcd may make -------------------------------------------------------------------

@dataclass(frozen=True)
class FreeLeaseId:
    """Any positive ID no live lease has (etcd draws one at random)."""

    taken: frozenset[int]

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int) and value > 0 and value not in self.taken

    def __repr__(self) -> str:
        return "any unused lease ID"


@dataclass(frozen=True)
class AtLeast:
    """Any integer from ``low`` on (the ticks left on a live lease)."""

    low: int

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int) and value >= self.low

    def __repr__(self) -> str:
        return f"an integer >= {self.low}"


def difference(expected: Any, actual: Any, path: str = "response") -> str | None:
    """The first place where ``actual`` departs from ``expected``, or None."""
    if hasattr(expected, "accepts"):
        return None if expected.accepts(actual) else f"{path} is {describe(actual)}, the model says {expected!r}"
    if isinstance(expected, dict) and isinstance(actual, dict):
        for name in sorted(set(expected) | set(actual)):
            found = difference(expected.get(name), actual.get(name), f"{path}.{name}")
            if found:
                return found
        return None
    if isinstance(expected, tuple) and isinstance(actual, tuple) and len(expected) == len(actual):
        for index, (mine, theirs) in enumerate(zip(expected, actual)):
            found = difference(mine, theirs, f"{path}[{index}]")
            if found:
                return found
        return None
    if expected == actual and type(expected) is type(actual):
        return None
    return f"{path} is {describe(actual)}, the model says {describe(expected)}"


def describe(shape: Any) -> str:
    """A short rendering of a shape for messages: bytes as text, dicts as name=value."""
    if isinstance(shape, bytes):
        return repr(shape.decode(errors="backslashreplace"))
    if isinstance(shape, dict):
        return "{" + " ".join(f"{name}={describe(value)}" for name, value in shape.items()) + "}"
    if isinstance(shape, tuple):
        return "[" + ", ".join(describe(item) for item in shape) + "]"
    return repr(shape)


def describe_answer(answer: Any) -> str:
    """An answer as a learner reads it: what a read saw, "not found" when nothing, at which
    revision (``k/a=1 rev=4``, ``not found rev=1``); other answers as ``describe`` shows them."""
    if not (isinstance(answer, dict) and "kvs" in answer):
        return describe(answer)
    kvs = answer["kvs"]
    seen = " ".join(f"{_text(kv['key'])}={_text(kv.get('value', b''))}" for kv in kvs) or "not found"
    count = f" count={answer['count']}" if answer.get("count", len(kvs)) != len(kvs) else ""
    return f"{seen} rev={answer.get('revision')}{count}{' more' if answer.get('more') else ''}"


def _text(value: Any) -> str:
    return value.decode(errors="backslashreplace") if isinstance(value, bytes) else str(value)


# ---- shapes ------------------------------------------------------------------------------------

def _kv(key: bytes, state: KeyState, keys_only: bool = False) -> dict:
    return {"key": key, "create_revision": state.create_revision, "mod_revision": state.mod_revision,
            "version": state.version, "value": b"" if keys_only else state.value, "lease": state.lease}


def _event(kind: str, kv: dict) -> dict:
    return {"type": kind, "kv": kv}


def _error(name: str) -> dict:
    return {"error": name}


class _Refused(Exception):
    """A request etcd refuses: nothing changes and the client gets this error."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _lookup(keys: Keys, key: bytes) -> KeyState | None:
    for name, state in keys:
        if name == key:
            return state
    return None


# ---- one request or txn in progress ------------------------------------------------------------

class _Draft:
    """The writes of one request or txn, each seeing the ones before it; all share the next
    revision, which is used only if something changed."""

    def __init__(self, state: StoreState) -> None:
        self.base = state
        self.keys = dict(state.keys)
        self.leases = dict(state.leases)
        self.events: list[dict] = []

    def read_revision(self) -> int:
        return self.base.revision + 1 if self.events else self.base.revision

    def live(self, key: bytes, range_end: bytes, revision: int) -> list[tuple[bytes, KeyState]]:
        source = self.keys.items() if revision == self.read_revision() else self.base.keys_at(revision)
        return sorted((name, state) for name, state in source if in_range(name, key, range_end))

    def finish(self) -> StoreState:
        keys = tuple(sorted(self.keys.items()))
        leases = tuple(sorted(self.leases.items()))
        if not self.events:
            return replace(self.base, leases=leases)
        return replace(self.base, revision=self.base.revision + 1, keys=keys, leases=leases,
                       past=self.base.past + (keys,))


class StoreModel:
    """etcd's answers. ``min_lease_ttl`` is the server's minimum TTL (etcd: 1.5 election
    timeouts, rounded up), to which a grant asking for less is raised."""

    def __init__(self, min_lease_ttl: int = 2, max_txn_ops: int = MAX_TXN_OPS) -> None:
        self.min_lease_ttl = min_lease_ttl
        self.max_txn_ops = max_txn_ops
        self._handlers: dict[str, Callable[[StoreState, Any, dict | None], Outcome]] = {
            "RangeRequest": self._single, "PutRequest": self._single,
            "DeleteRangeRequest": self._single, "TxnRequest": self._txn,
            "CompactionRequest": self._compact, "LeaseGrantRequest": self._grant,
            "LeaseRevokeRequest": self._revoke, "LeaseKeepAliveRequest": self._keep_alive,
            "LeaseTimeToLiveRequest": self._time_to_live,
        }

    def knows(self, request: Any) -> bool:
        return type(request).__name__ in self._handlers

    def step(self, state: StoreState, request: Any, actual: dict | None = None) -> Outcome:
        """The state after ``request``, the response expected, the events it produced."""
        handler = self._handlers[type(request).__name__]
        try:
            return handler(state, request, actual)
        except _Refused as refused:
            return Outcome(state, _error(refused.name))

    # ---- kv requests --------------------------------------------------------------------

    def _single(self, state: StoreState, request: Any, actual: dict | None) -> Outcome:
        self._validate(request)
        self._check_plain(state, request)
        draft = _Draft(state)
        response = self._apply(draft, request)
        return Outcome(draft.finish(), response, tuple(draft.events))

    def _check_plain(self, state: StoreState, request: Any) -> None:
        """What a request outside a txn is checked for against the state: a range's revision;
        a put's lease, then the key that ignore_value or ignore_lease needs."""
        kind = type(request).__name__
        if kind == "RangeRequest":
            self._check_revision(state, request.revision)
        elif kind == "PutRequest":
            self._check_lease(state, request)
            self._check_key(state.keys, request)

    @staticmethod
    def _check_revision(state: StoreState, revision: int) -> None:
        if revision > state.revision:
            raise _Refused("ErrFutureRev")
        if 0 < revision < state.compact_revision:
            raise _Refused("ErrCompacted")

    @staticmethod
    def _check_lease(state: StoreState, request: Any) -> None:
        if request.lease and all(lease_id != request.lease for lease_id, _ in state.leases):
            raise _Refused("ErrLeaseNotFound")

    @staticmethod
    def _check_key(keys: Keys, request: Any) -> None:
        if (request.ignore_value or request.ignore_lease) and _lookup(keys, request.key) is None:
            raise _Refused("ErrKeyNotFound")

    def _validate(self, request: Any) -> None:
        """etcd's gRPC checks, made on the request alone."""
        if not request.key:
            raise _Refused("ErrEmptyKey")
        if type(request).__name__ == "PutRequest":
            if request.ignore_value and request.value:
                raise _Refused("ErrValueProvided")
            if request.ignore_lease and request.lease:
                raise _Refused("ErrLeaseProvided")

    def _apply(self, draft: _Draft, request: Any) -> dict:
        kind = type(request).__name__
        if kind == "RangeRequest":
            return self._range(draft, request)
        if kind == "PutRequest":
            return self._put(draft, request)
        return self._delete(draft, request)

    def _range(self, draft: _Draft, request: Any) -> dict:
        current = draft.read_revision()
        found = draft.live(request.key, request.range_end, request.revision or current)
        count = len(found)
        if request.count_only:
            return {"revision": current, "kvs": (), "count": count, "more": False}
        shown = found[:request.limit] if request.limit > 0 else found
        kvs = tuple(_kv(name, state, request.keys_only) for name, state in shown)
        return {"revision": current, "kvs": kvs, "count": count, "more": 0 < request.limit < count}

    def _put(self, draft: _Draft, request: Any) -> dict:
        revision = draft.base.revision + 1
        previous = draft.keys.get(request.key)
        value = previous.value if request.ignore_value and previous else request.value
        lease = previous.lease if request.ignore_lease and previous else request.lease
        if previous is None:
            state = KeyState(revision, revision, 1, value, lease)
        else:
            state = KeyState(previous.create_revision, revision, previous.version + 1, value, lease)
        draft.keys[request.key] = state
        draft.events.append(_event("PUT", _kv(request.key, state)))
        prev_kv = _kv(request.key, previous) if request.prev_kv and previous else None
        return {"revision": revision, "prev_kv": prev_kv}

    def _delete(self, draft: _Draft, request: Any) -> dict:
        doomed = draft.live(request.key, request.range_end, draft.read_revision())
        revision = draft.base.revision + 1
        for name, _ in doomed:
            del draft.keys[name]
            draft.events.append(_event("DELETE", _kv(name, KeyState(0, revision, 0, b"", 0))))
        prev_kvs = tuple(_kv(name, state) for name, state in doomed) if request.prev_kv else ()
        return {"revision": draft.read_revision(), "deleted": len(doomed), "prev_kvs": prev_kvs}

    # ---- txn ----------------------------------------------------------------------------

    def _txn(self, state: StoreState, request: Any, actual: dict | None) -> Outcome:
        self._validate_txn(request)
        succeeded = all(self._holds(state, compare) for compare in request.compare)
        operations = request.success if succeeded else request.failure
        self._check_branch(state, operations)
        draft = _Draft(state)
        responses = tuple(self._apply(draft, operation) for operation in operations)
        response = {"revision": draft.read_revision(), "succeeded": succeeded, "responses": responses}
        return Outcome(draft.finish(), response, tuple(draft.events))

    def _validate_txn(self, request: Any) -> None:
        branches = (request.success, request.failure)
        if len(request.compare) > self.max_txn_ops or any(len(ops) > self.max_txn_ops for ops in branches):
            raise _Refused("ErrTooManyOps")
        for operation in request.success + request.failure:
            if type(operation).__name__ == "TxnRequest":
                raise ValueError("nested txns are not modelled")
            self._validate(operation)
        for operations in branches:
            _check_disjoint(operations)

    def _check_branch(self, state: StoreState, operations: tuple) -> None:
        """Puts first (the key, then the lease), then ranges, all against the starting state."""
        for index, operation in enumerate(operations):
            if type(operation).__name__ == "PutRequest":
                self._check_key(state.keys, operation)
                self._check_lease(state, operation)
                _check_not_deleted_before(operation, operations[:index])
        for operation in operations:
            if type(operation).__name__ == "RangeRequest":
                self._check_revision(state, operation.revision)

    @staticmethod
    def _holds(state: StoreState, compare: Any) -> bool:
        """Every key in the compare's range satisfies it; no key compares as a zero key,
        for which a VALUE compare is false."""
        found = [kv for name, kv in state.keys if in_range(name, compare.key, compare.range_end)]
        if not found:
            return compare.target != "VALUE" and _compare(compare, KeyState(0, 0, 0, b"", 0))
        return all(_compare(compare, kv) for kv in found)

    # ---- compaction and leases ----------------------------------------------------------

    def _compact(self, state: StoreState, request: Any, actual: dict | None) -> Outcome:
        if request.revision <= state.compact_revision:
            raise _Refused("ErrCompacted")
        if request.revision > state.revision:
            raise _Refused("ErrFutureRev")
        return Outcome(replace(state, compact_revision=request.revision), {"revision": state.revision})

    def _grant(self, state: StoreState, request: Any, actual: dict | None) -> Outcome:
        taken = frozenset(lease_id for lease_id, _ in state.leases)
        if request.ttl > MAX_LEASE_TTL:
            raise _Refused("ErrLeaseTTLTooLarge")
        if request.id and request.id in taken:
            raise _Refused("ErrLeaseExist")
        chosen: Any = request.id or FreeLeaseId(taken)
        lease_id = request.id or _chosen_id(chosen, actual)
        ttl = max(request.ttl, self.min_lease_ttl)
        leases = tuple(sorted(state.leases + ((lease_id, ttl),)))
        return Outcome(replace(state, leases=leases), {"revision": state.revision, "id": chosen, "ttl": ttl})

    def _revoke(self, state: StoreState, request: Any, actual: dict | None) -> Outcome:
        _granted(state, request.id)
        draft = _Draft(state)
        for key in state.attached(request.id):
            self._delete(draft, _KeyOnly(key))
        del draft.leases[request.id]
        return Outcome(draft.finish(), {"revision": draft.read_revision()}, tuple(draft.events))

    def _keep_alive(self, state: StoreState, request: Any, actual: dict | None) -> Outcome:
        ttl = _granted(state, request.id)
        return Outcome(state, {"revision": state.revision, "id": request.id, "ttl": ttl})

    def _time_to_live(self, state: StoreState, request: Any, actual: dict | None) -> Outcome:
        """A missing lease answers TTL -1 rather than an error (etcd's gRPC layer)."""
        try:
            granted = _granted(state, request.id)
        except _Refused:
            return Outcome(state, {"revision": state.revision, "id": request.id, "ttl": -1,
                                   "granted_ttl": 0, "keys": ()})
        keys = state.attached(request.id) if request.keys else ()
        return Outcome(state, {"revision": state.revision, "id": request.id, "ttl": AtLeast(0),
                               "granted_ttl": granted, "keys": keys})


@dataclass(frozen=True)
class _KeyOnly:
    """A delete of one key, as a revoke makes for each attached key."""

    key: bytes
    range_end: bytes = b""
    prev_kv: bool = False


def _granted(state: StoreState, lease_id: int) -> int:
    """The lease's granted TTL, or ErrLeaseNotFound."""
    for candidate, ttl in state.leases:
        if candidate == lease_id:
            return ttl
    raise _Refused("ErrLeaseNotFound")


def _chosen_id(choice: FreeLeaseId, actual: dict | None) -> int:
    """The ID the server chose when it is a valid choice, else the lowest free one."""
    if actual is not None and choice.accepts(actual.get("id")):
        return actual["id"]
    return next(candidate for candidate in range(1, len(choice.taken) + 2) if candidate not in choice.taken)


def _compare(compare: Any, state: KeyState) -> bool:
    actual = {"VALUE": state.value, "VERSION": state.version, "CREATE": state.create_revision,
              "MOD": state.mod_revision}[compare.target]
    if compare.result == "EQUAL":
        return actual == compare.operand
    if compare.result == "NOT_EQUAL":
        return actual != compare.operand
    return actual > compare.operand if compare.result == "GREATER" else actual < compare.operand


def _check_disjoint(operations: tuple) -> None:
    """A branch may not put a key twice or put a key one of its deletes covers; a delete to
    the end of the keyspace ("\\0") is not seen as covering anything (etcd's interval tree)."""
    puts = [op.key for op in operations if type(op).__name__ == "PutRequest"]
    if len(set(puts)) != len(puts):
        raise _Refused("ErrDuplicateKey")
    for op in operations:
        if type(op).__name__ == "DeleteRangeRequest" and op.range_end != ALL_KEYS:
            if any(in_range(key, op.key, op.range_end) for key in puts):
                raise _Refused("ErrDuplicateKey")


def _check_not_deleted_before(put: Any, earlier: tuple) -> None:
    if not (put.ignore_value or put.ignore_lease):
        return
    for op in earlier:
        if type(op).__name__ == "DeleteRangeRequest" and op.range_end == ALL_KEYS and put.key >= op.key:
            raise _Refused("ErrKeyNotFound")
