"""Hypothesis strategies for the request lines the etcd machine sends: every request shape the
store has (checks/etcd/requests.py), drawn near the cases where a store goes wrong: ranges with
limits just below and above the number of keys, reads at the compacted, current and next
revision, puts that keep a missing key's value, compares that hold and fail, txns whose
branches read and write ranges.

Each strategy draws the words of one scenario line from the revision the store is at now
(``revision``), so the line replays the same wherever the run is shrunk to.
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["KEYS", "LEASE_KEYS", "range_words", "delete_words", "put_option_words", "txn_words",
           "lease_grant_words", "past_revision", "compact_revision"]

KEYS = ("k/a", "k/b", "k/c")
LEASE_KEYS = ("k/l1", "k/l2")
ABSENT_KEY = "k/new"  # never written: compares on a key that does not exist (yet)
_READ_SPANS = ("one", "prefix", "prefix", "interval", "from-key")
_DELETE_SPANS = ("one", "one", "one", "one", "prefix", "interval", "from-key")  # ranged deletes empty the store
# prev_kv in four of seven: a put that returns the value it replaced was the rarest shape sent.
_PUT_FLAGS = (("prev-kv",), ("prev-kv",), ("ignore-value",), ("ignore-lease",), ("prev-kv", "ignore-value"),
              ("prev-kv", "ignore-lease"), ("ignore-value", "ignore-lease"))
# IDs a client asks for when it names its lease: 1 and 2 are the store's own first choices (it
# hands out the lowest free ID), so they collide with leases it granted; 7 collides only with
# itself, once granted; a large ID never collides with the store's choices.
CHOSEN_LEASE_IDS = (1, 2, 7, 7, 1_000_000)


def _span(draw, key: str, spans: tuple[str, ...]) -> list[str]:
    """KEY and the words that make it a range: a prefix, [k/a, k/c), or from the key on."""
    shape = draw(st.sampled_from(spans))
    if shape == "prefix":
        return ["k/", "prefix"]
    if shape == "interval":
        return ["k/a", "end=k/c"]
    if shape == "from-key":
        return [key, "from-key"]
    return [key]


def past_revision(draw, revision: int) -> int:
    """A revision to read or compact at: the current one, one just behind, the first, or one
    beyond the current revision (ErrFutureRev)."""
    back = draw(st.sampled_from([0, 1, 2, 4, -1, -2]))
    return max(1, revision - back)


compact_revision = past_revision


@st.composite
def range_words(draw, revision: int) -> list[str]:
    words = _span(draw, draw(st.sampled_from(KEYS + LEASE_KEYS)), _READ_SPANS)
    if draw(st.booleans()):
        words.append(f"rev={past_revision(draw, revision)}")
    limit = draw(st.sampled_from([0, 0, 1, 2]))
    if limit:
        words.append(f"limit={limit}")
    words += draw(st.sampled_from([[], [], ["count-only"], ["keys-only"], ["serializable"]]))
    return words


@st.composite
def delete_words(draw) -> list[str]:
    words = _span(draw, draw(st.sampled_from(KEYS + LEASE_KEYS)), _DELETE_SPANS)
    return words + (["prev-kv"] if draw(st.booleans()) else [])


@st.composite
def put_option_words(draw, value: str) -> tuple[str, list[str]]:
    """(verb, words): a put or lease-put with prev_kv, ignore_value or ignore_lease, sometimes
    malformed on purpose (a value with ignore_value, a lease with ignore_lease). The keys the
    machine starts with come twice as often as the lease keys: every one of these options
    says something only about a key that exists."""
    verb = draw(st.sampled_from(["put", "put", "lease-put"]))
    key = draw(st.sampled_from(KEYS + KEYS + LEASE_KEYS))
    flags = list(draw(st.sampled_from(_PUT_FLAGS)))
    keep_value = "ignore-value" not in flags or draw(st.integers(0, 5)) == 0  # ErrValueProvided
    return verb, [key] + ([value] if keep_value else []) + flags


@st.composite
def lease_grant_words(draw, ttl: int, in_use: tuple[int, ...]) -> list[str]:
    """TTL, and half the time an ID of the client's choosing (LeaseGrantRequest.id): one of the
    leases ``in_use`` now (ErrLeaseExist) or one of ``CHOSEN_LEASE_IDS``."""
    if draw(st.booleans()):
        return [str(ttl)]
    return [str(ttl), f"id={draw(st.sampled_from(tuple(in_use) + CHOSEN_LEASE_IDS))}"]


def _compare(draw, revision: int, values: tuple[str, ...]) -> str:
    span = draw(st.sampled_from(KEYS + ("k/*", ABSENT_KEY, ABSENT_KEY)))
    target = draw(st.sampled_from(["version", "mod", "create", "value"]))
    relation = draw(st.sampled_from(["=", "=", "!=", "!=", ">", "<"]))
    if target == "value":
        operand = draw(st.sampled_from(values + ("x",)))
    elif target == "version":
        operand = str(draw(st.integers(0, 2)))
    else:
        operand = str(max(0, revision - draw(st.integers(0, 2))))
    return f"{span}.{target}{relation}{operand}"


def _txn_op(draw, value: str) -> str:
    kind = draw(st.sampled_from(["get", "get", "put", "del"]))
    if kind == "put":
        return f"put:{draw(st.sampled_from(KEYS))}={value}"
    return f"{kind}:{draw(st.sampled_from(KEYS + ('k/*', 'k/a..k/c')))}"


@st.composite
def txn_words(draw, revision: int, values: tuple[str, ...], new_value: str) -> list[str]:
    """A txn over ranges: up to two compares, a success branch of one to three operations, a
    failure branch of up to two. Branches that write a key twice are fine: etcd refuses them
    with ErrDuplicateKey, which is an answer to check like any other."""
    compares = [_compare(draw, revision, values) for _ in range(draw(st.sampled_from([0, 1, 1, 2])))]
    success = [_txn_op(draw, new_value) for _ in range(draw(st.integers(1, 3)))]
    failure = [_txn_op(draw, new_value) for _ in range(draw(st.integers(0, 2)))]
    words = (["if"] + compares if compares else []) + ["then"] + success
    return words + (["else"] + failure if failure else [])
