"""Every request shape of the store is sent by the etcd machine (issue 8): a search of a few
test cases on a fixed seed, every request the clients sent read back from the client log
(``EtcdCluster.log.calls``: each request whole, with the answer or error it got; ``log.streams``:
each watch stream). A shape the machine stops drawing, or draws so rarely that a short search
misses it, fails here."""

from __future__ import annotations

from collections import Counter

from checks.etcd.machine import EtcdMachine
from checks.etcd.search import EXAMPLES_PER_CHUNK, STEPS_PER_EXAMPLE
from checks.search import MachineCounter, search_machine
from impl.etcd.client_log import CallRecord
from impl.etcd.errors import ErrLeaseExist
from impl.etcd.keyspace import ALL_KEYS
from impl.etcd.messages import (
    CompactionRequest, LeaseGrantRequest, LeaseKeepAliveRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest,
)
from impl.etcd.parts import EtcdParts
from impl.etcd.types import DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest

# Seed 8's 60 test cases (about 10 s) send every shape at least twice. The rarest shapes
# (keys-only gets, prefix deletes) come out 0 to 2 times in 60 on some other seeds.
SEED = 8
EXAMPLES = 60

SHAPES = (
    "ranged get", "prefix get", "ranged delete", "prefix delete", "get with limit", "count-only get",
    "keys-only get", "get at a past revision", "put with prev_kv of an existing key", "put with ignore_lease",
    "put with ignore_value", "txn over ranges", "lease grant with an ID", "lease grant of an ID in use",
    "time-to-live with keys", "keep-alive", "revoke", "compaction", "watch from a key on",
)


def _is_prefix(key: bytes, range_end: bytes) -> bool:
    return bool(key) and range_end == key[:-1] + bytes([key[-1] + 1])


def _span_shapes(verb: str, op) -> set[str]:
    if not op.range_end:
        return set()
    return {f"ranged {verb}"} | ({f"prefix {verb}"} if _is_prefix(op.key, op.range_end) else set())


def _get_shapes(call: CallRecord) -> set[str]:
    op, answer = call.op, call.response
    shapes = _span_shapes("get", op)
    shapes |= {"get with limit"} if op.limit else set()
    shapes |= {"count-only get"} if op.count_only else set()
    shapes |= {"keys-only get"} if op.keys_only else set()
    # past: below the revision the store answered at
    shapes |= {"get at a past revision"} if op.revision and answer and op.revision < answer.revision else set()
    return shapes


def _put_shapes(call: CallRecord) -> set[str]:
    op = call.op
    shapes = {"put with ignore_lease"} if op.ignore_lease else set()
    shapes |= {"put with ignore_value"} if op.ignore_value else set()
    # the key existed: the answer carries its previous value
    shapes |= {"put with prev_kv of an existing key"} if op.prev_kv and call.response and call.response.prev_kv \
        else set()
    return shapes


def _txn_shapes(call: CallRecord) -> set[str]:
    ranged = any(c.range_end for c in call.op.compare) or any(
        getattr(o, "range_end", b"") for o in call.op.success + call.op.failure)
    return {"txn over ranges"} if ranged else set()


def _grant_shapes(call: CallRecord) -> set[str]:
    if not call.op.id:
        return set()
    return {"lease grant with an ID"} | ({"lease grant of an ID in use"} if call.error == ErrLeaseExist.message
                                         else set())


_BY_REQUEST = {
    RangeRequest: _get_shapes,
    PutRequest: _put_shapes,
    DeleteRangeRequest: lambda call: _span_shapes("delete", call.op),
    TxnRequest: _txn_shapes,
    LeaseGrantRequest: _grant_shapes,
    LeaseTimeToLiveRequest: lambda call: {"time-to-live with keys"} if call.op.keys else set(),
    LeaseKeepAliveRequest: lambda call: {"keep-alive"},
    LeaseRevokeRequest: lambda call: {"revoke"},
    CompactionRequest: lambda call: {"compaction"},
}


def shapes_of(call: CallRecord) -> set[str]:
    """The shapes one sent request has (several at once: a prefix get with a limit)."""
    return _BY_REQUEST[type(call.op)](call)


def sent_shapes(seed: int = SEED, examples: int = EXAMPLES) -> Counter:
    """How many requests of each shape the machine sent in a search of ``examples`` test cases."""
    seen: Counter = Counter()

    class Collecting(EtcdMachine):
        def teardown(self) -> None:
            super().teardown()
            if self.cluster is not None:
                seen.update(shape for call in self.cluster.log.calls for shape in shapes_of(call))
                seen.update("watch from a key on" for stream in self.cluster.log.streams
                            if stream.range_end == ALL_KEYS)

    def machine_class(counter: MachineCounter) -> type[EtcdMachine]:
        return type("EtcdMachine", (Collecting,), {"parts": EtcdParts(), "counter": counter})

    outcome = search_machine(machine_class, lambda found, violation: (found, violation), seed, 600,
                             examples_per_chunk=EXAMPLES_PER_CHUNK, steps=STEPS_PER_EXAMPLE, examples_max=examples)
    assert outcome.violation is None, outcome.violation
    return seen


def test_the_machine_sends_every_request_shape():
    seen = sent_shapes()
    missing = [shape for shape in SHAPES if not seen[shape]]
    assert not missing, f"never sent in {EXAMPLES} test cases: {missing}; sent: {dict(sorted(seen.items()))}"


def test_the_classifier_tells_shapes_apart():
    """The test above is only as good as this: a plain request has no shape, each option its own."""
    plain = CallRecord("c1", 1, RangeRequest(b"k/a"), True, 0)
    assert shapes_of(plain) == set()
    prefix = CallRecord("c1", 1, RangeRequest(b"k/", b"k0", limit=1), False, 0)
    assert shapes_of(prefix) == {"ranged get", "prefix get", "get with limit"}
    interval = CallRecord("c1", 1, DeleteRangeRequest(b"k/a", b"k/c"), False, 0)
    assert shapes_of(interval) == {"ranged delete"}
    taken = CallRecord("c1", 1, LeaseGrantRequest(20, 7), False, 0, error=ErrLeaseExist.message)
    assert shapes_of(taken) == {"lease grant with an ID", "lease grant of an ID in use"}
    assert shapes_of(CallRecord("c1", 1, LeaseGrantRequest(20), False, 0)) == set()
