"""The store requests of etcd scenario lines: one parser, used both to validate a scenario
before it runs (scenario.py) and to build the request a client sends (cluster.py).

    get KEY [prefix | end=END | from-key] [rev=R] [limit=N] [count-only] [keys-only] [serializable]
    put KEY VALUE [prev-kv] [ignore-lease]        put KEY ignore-value [prev-kv] [ignore-lease]
    lease-put KEY VALUE [prev-kv] [ignore-value] [ignore-lease]   (attached to the client's lease)
    delete KEY [prefix | end=END | from-key] [prev-kv]
    cas KEY OLD|- NEW                              (one txn: put NEW if the key holds OLD / is absent)
    txn K1=V1 K2=V2 ...                            (puts in one txn, one revision)
    txn [if COMPARE ...] then OP ... [else OP ...] (a txn over ranges)
        COMPARE: KEY.version=N  KEY.create<N  KEY.mod>N  KEY.value!=V   (relations = != < >)
        OP:      get:KEY  put:KEY=VALUE  del:KEY
        a KEY ending in * stands for every key with that prefix; KEY..END for [KEY, END)
    compact REV    lease-grant TTL [id=ID]    keep-alive    revoke    time-to-live [keys]
        (ID: the lease's ID, chosen by the client; an ID in use is ErrLeaseExist. Without it the
        store chooses. keep-alive, revoke and time-to-live name the client's last granted lease.)

Each request is recorded in the client history as parts the KV model of KV-LINEARIZABLE
judges by value (``checked``): a single-key get at the current revision, a put of a known
value, a single-key delete, cas, a txn of puts. Everything else is judged by
KV-RESPONSE-MATCHES-MODEL, and what it wrote reaches the KV history from the log.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from impl.etcd.keyspace import ALL_KEYS, prefix_end
from impl.etcd.messages import (
    CompactionRequest, LeaseGrantRequest, LeaseKeepAliveRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest,
)
from impl.etcd.types import Compare, DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest

__all__ = ["RequestError", "Built", "build", "VERBS", "REVISION_MAX"]

REVISION_MAX = 1_000_000_000
LIMIT_MAX = 1_000
TTL_MAX = 1_000_000
LEASE_ID_MAX = 2**63 - 1  # etcd's lease IDs are int64
TXN_OPS_MAX = 8
_WORD = re.compile(r"^[A-Za-z0-9_./:=-]+$")  # keys and values
_COMPARE = re.compile(r"^(.+)\.(version|create|mod|value)(!=|=|<|>)(.*)$")
_TARGETS = {"version": "VERSION", "create": "CREATE", "mod": "MOD", "value": "VALUE"}
_RESULTS = {"=": "EQUAL", "!=": "NOT_EQUAL", ">": "GREATER", "<": "LESS"}


class RequestError(ValueError):
    """A malformed request: the message says what is wrong."""


@attrs.frozen
class Built:
    op: Any
    parts: tuple[tuple[str, str, str, Any], ...]  # (process, f, key, value) in the client history
    checked: bool


def _text(data: bytes) -> str:
    return data.decode()


def _word(word: str, what: str) -> bytes:
    if not _WORD.match(word):
        raise RequestError(f"{what} must be letters, digits and ._/:=- only, not {word!r}")
    return word.encode()


def _number(word: str, what: str, low: int, high: int) -> int:
    if not word.isdigit() or not low <= int(word) <= high:
        raise RequestError(f"{what} must be an integer from {low} to {high}, not {word!r}")
    return int(word)


def _split(words: tuple[str, ...], positional: tuple[int, int], flags: tuple[str, ...],
           usage: str) -> tuple[list[str], dict[str, str]]:
    """Positional words first, then flags (``name`` or ``name=value`` for names ending in =)."""
    given, options = [], {}
    for word in words:
        name = next((f for f in flags if word == f or (f.endswith("=") and word.startswith(f))), None)
        if name is None:
            if options:
                raise RequestError(f"usage: {usage}")
            given.append(word)
        else:
            options[name] = word[len(name):] if name.endswith("=") else ""
    if not positional[0] <= len(given) <= positional[1]:
        raise RequestError(f"usage: {usage}")
    return given, options


def _span(key: bytes, options: dict[str, str]) -> bytes:
    """The range_end named by prefix, end=END or from-key (at most one), else b"" (one key)."""
    chosen = [name for name in ("prefix", "end=", "from-key") if name in options]
    if len(chosen) > 1:
        raise RequestError("choose one of prefix, end=END, from-key")
    if "prefix" in options:
        return prefix_end(key)
    if "end=" in options:
        return _word(options["end="], "END")
    return ALL_KEYS if "from-key" in options else b""


_RANGE_FLAGS = ("prefix", "end=", "from-key")


def _get(client: str, words: tuple[str, ...], lease_id: int) -> Built:
    usage = "get KEY [prefix|end=END|from-key] [rev=R] [limit=N] [count-only] [keys-only] [serializable]"
    given, options = _split(words, (1, 1), _RANGE_FLAGS + ("rev=", "limit=", "count-only", "keys-only",
                                                           "serializable"), usage)
    key = _word(given[0], "KEY")
    revision = _number(options["rev="], "rev", 1, REVISION_MAX) if "rev=" in options else 0
    limit = _number(options["limit="], "limit", 1, LIMIT_MAX) if "limit=" in options else 0
    op = RangeRequest(key, _span(key, options), limit, revision, "count-only" in options,
                      "keys-only" in options, "serializable" in options)
    plain = not (op.range_end or op.revision or op.count_only or op.keys_only or op.serializable)
    return Built(op, ((client, "read", given[0], None),), plain)


def _put(client: str, words: tuple[str, ...], lease_id: int, leased: bool = False) -> Built:
    verb = "lease-put" if leased else "put"
    usage = f"{verb} KEY VALUE [prev-kv] [ignore-value] [ignore-lease]"
    given, options = _split(words, (1, 2), ("prev-kv", "ignore-value", "ignore-lease"), usage)
    if len(given) == 1 and "ignore-value" not in options:
        raise RequestError(f"usage: {usage} (VALUE may be left out with ignore-value)")
    key = _word(given[0], "KEY")
    value = _word(given[1], "VALUE") if len(given) == 2 else b""
    op = PutRequest(key, value, lease_id if leased else 0, "prev-kv" in options, "ignore-value" in options,
                    "ignore-lease" in options)
    return Built(op, ((client, "write", given[0], _text(value)),), not op.ignore_value)


def _delete(client: str, words: tuple[str, ...], lease_id: int) -> Built:
    usage = "delete KEY [prefix|end=END|from-key] [prev-kv]"
    given, options = _split(words, (1, 1), _RANGE_FLAGS + ("prev-kv",), usage)
    key = _word(given[0], "KEY")
    op = DeleteRangeRequest(key, _span(key, options), "prev-kv" in options)
    return Built(op, ((client, "delete", given[0], None),), not op.range_end)


def _cas(client: str, words: tuple[str, ...], lease_id: int) -> Built:
    given, _ = _split(words, (3, 3), (), "cas KEY OLD|- NEW")
    key, new = _word(given[0], "KEY"), _word(given[2], "NEW")
    old = None if given[1] == "-" else _word(given[1], "OLD")
    guard = Compare(key, "CREATE", "EQUAL", 0) if old is None else Compare(key, "VALUE", "EQUAL", old)
    op = TxnRequest((guard,), (PutRequest(key, new),), ())
    return Built(op, ((client, "cas", given[0], (given[1] if old else None, given[2])),), True)


def _simple_txn(client: str, words: tuple[str, ...]) -> Built:
    if not 1 <= len(words) <= TXN_OPS_MAX or not all("=" in word for word in words):
        raise RequestError("usage: txn KEY=VALUE [KEY=VALUE ...] | txn [if COMPARE ...] then OP ... [else OP ...]")
    pairs = [word.split("=", 1) for word in words]
    writes = tuple((_word(k, "KEY"), _word(v, "VALUE")) for k, v in pairs)
    op = TxnRequest((), tuple(PutRequest(k, v) for k, v in writes), ())
    parts = tuple((f"{client}.{k}", "write", k, v) for k, v in pairs)
    return Built(op, parts, True)


def _key_span(text: str) -> tuple[bytes, bytes]:
    if text.endswith("*"):
        key = _word(text[:-1], "KEY")
        return key, prefix_end(key)
    low, dots, high = text.partition("..")
    return (_word(low, "KEY"), _word(high, "END")) if dots else (_word(text, "KEY"), b"")


def _compare(word: str) -> Compare:
    found = _COMPARE.match(word)
    if not found:
        raise RequestError(f"a compare is KEY.version|create|mod|value with = != < > and an operand, not {word!r}")
    span, target, relation, operand = found.groups()
    key, range_end = _key_span(span)
    value: int | bytes = (_word(operand, "VALUE") if operand else b"") if target == "value" else \
        _number(operand, "operand", 0, REVISION_MAX)
    return Compare(key, _TARGETS[target], _RESULTS[relation], value, range_end)


def _txn_op(word: str) -> Any:
    kind, colon, rest = word.partition(":")
    if not colon or kind not in ("get", "put", "del"):
        raise RequestError(f"a txn operation is get:KEY, put:KEY=VALUE or del:KEY, not {word!r}")
    if kind == "put":
        key, equals, value = rest.partition("=")
        if not equals:
            raise RequestError(f"a txn put is put:KEY=VALUE, not {word!r}")
        return PutRequest(_word(key, "KEY"), _word(value, "VALUE"))
    key, range_end = _key_span(rest)
    return RangeRequest(key, range_end) if kind == "get" else DeleteRangeRequest(key, range_end)


def _txn(client: str, words: tuple[str, ...], lease_id: int) -> Built:
    if not words or words[0] not in ("if", "then"):
        return _simple_txn(client, words)
    sections: dict[str, list[str]] = {"if": [], "then": [], "else": []}
    order, current = list(sections), None
    for word in words:
        if word in sections:
            if current is not None and order.index(word) <= order.index(current):
                raise RequestError("usage: txn [if COMPARE ...] then OP ... [else OP ...], in that order")
            current = word
        else:
            sections[current].append(word)
    if "then" not in words or any(len(ops) > TXN_OPS_MAX for ops in sections.values()):
        raise RequestError(f"usage: txn [if COMPARE ...] then OP ... [else OP ...], at most {TXN_OPS_MAX} of each")
    op = TxnRequest(tuple(_compare(w) for w in sections["if"]), tuple(_txn_op(w) for w in sections["then"]),
                    tuple(_txn_op(w) for w in sections["else"]))
    return Built(op, ((client, "txn", "", None),), False)


def _unary(make) -> Any:
    def builder(client: str, words: tuple[str, ...], lease_id: int) -> Built:
        op, f, value = make(words, lease_id)
        return Built(op, ((client, f, "", value),), False)
    return builder


def _no_words(verb: str, words: tuple[str, ...]) -> None:
    if words:
        raise RequestError(f"usage: {verb} (no arguments)")


def _compact(words, lease_id):
    _split(words, (1, 1), (), "compact REVISION")
    revision = _number(words[0], "revision", 1, REVISION_MAX)
    return CompactionRequest(revision), "compact", revision


def _grant(words, lease_id):
    given, options = _split(words, (1, 1), ("id=",), "lease-grant TTL [id=ID]")
    ttl = _number(given[0], "TTL", 1, TTL_MAX)
    chosen = _number(options["id="], "lease ID", 1, LEASE_ID_MAX) if "id=" in options else 0
    return LeaseGrantRequest(ttl, chosen), "lease-grant", ttl


def _lease_op(verb: str, request_type):
    def make(words, lease_id):
        _no_words(verb, words)
        return request_type(lease_id), verb, lease_id
    return make


def _time_to_live(words, lease_id):
    given, options = _split(words, (0, 0), ("keys",), "time-to-live [keys]")
    return LeaseTimeToLiveRequest(lease_id, "keys" in options), "time-to-live", lease_id


_BUILDERS = {
    "get": _get, "put": _put, "delete": _delete, "cas": _cas, "txn": _txn,
    "lease-put": lambda client, words, lease_id: _put(client, words, lease_id, leased=True),
    "compact": _unary(_compact), "lease-grant": _unary(_grant),
    "keep-alive": _unary(_lease_op("keep-alive", LeaseKeepAliveRequest)),
    "revoke": _unary(_lease_op("revoke", LeaseRevokeRequest)),
    "time-to-live": _unary(_time_to_live),
}
VERBS: tuple[str, ...] = tuple(_BUILDERS)


def build(client: str, verb: str, words: tuple[str, ...], lease_id: int = 0) -> Built:
    """The request ``client`` sends for ``verb WORDS`` (RequestError if malformed);
    ``lease_id`` is the client's current lease, for the verbs that use it."""
    if verb not in _BUILDERS:
        raise RequestError(f"unknown request {verb!r}; requests are {', '.join(VERBS)}, watch, progress")
    return _BUILDERS[verb](client, tuple(words), lease_id)
