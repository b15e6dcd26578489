"""The linearizability search's prunings: each must change no answer (differential against brute
force, on histories built to exercise it) and must save what it claims to save."""

from __future__ import annotations

import itertools
import random
import sys

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.lincheck import LINEARIZABLE, NOT_LINEARIZABLE, UNKNOWN, Operation
from checks.lincheck import search as search_module
from checks.lincheck.generate import APPEND_MIX, simulate
from checks.lincheck.history import NEVER, Call, drop_unobserved_unknowns, pair_calls
from checks.lincheck.search import Search, check_calls, check_partitioned, part_model, partition_by_key
from spec.kv.model import CAS_REGISTER, FORGOTTEN, KV_APPEND, MODELS, REGISTER


def brute_force_linearizable(calls, model, initial=None) -> bool:
    """Every order of every choice of unknown calls, checked against real time and the model."""
    known = [call for call in calls if call.known]
    unknown = [call for call in calls if not call.known]
    for size in range(len(unknown) + 1):
        for chosen in itertools.combinations(unknown, size):
            for order in itertools.permutations(known + list(chosen)):
                if _respects_real_time(order) and _model_accepts(order, model, initial):
                    return True
    return False


def _respects_real_time(order) -> bool:
    return all(not (later.completed < earlier.invoked)
               for position, earlier in enumerate(order) for later in order[position + 1:])


def _model_accepts(order, model, initial) -> bool:
    state = model.initial if initial is None else initial
    for call in order:
        ok, state = model.step(state, call)
        if not ok:
            return False
    return True


def _corrupted(calls, model, corruptions):
    """Some reads' values overwritten with values written in the history (for kv-append, two
    appended one after the other): often no longer linearizable."""
    reads = [position for position, call in enumerate(calls) if call.f in model.read_only]
    empty = "" if model.name.startswith("kv-append") else None
    written = sorted({call.value for call in calls if call.f in ("write", "put", "append")}, key=repr) or [empty]
    for corruption in corruptions:
        if reads:
            position = reads[corruption % len(reads)]
            value = written[corruption % len(written)]
            if model.name.startswith("kv-append"):
                value = "".join(written[corruption % len(written):][:2])
            calls[position] = attrs.evolve(calls[position], value=value)
    return calls


# Small value domains and many timeouts: identical unknown calls, calls that change nothing,
# states only a few orders reach: what the prunings are about. Histories of at most 6 calls per
# key keep brute force cheap (at most 6! orders of every subset of the unknown calls).
@settings(max_examples=150)
@given(st.sampled_from(["register", "cas-register", "kv-append"]), st.randoms(use_true_random=False),
       st.integers(1, 6), st.integers(1, 4), st.sampled_from([None, 2, 3]), st.sampled_from([0, 30, 60]),
       st.lists(st.integers(0, 6), max_size=3), st.booleans())
def test_search_agrees_with_brute_force(name, rng, operations, threads, values, info_percent, corruptions,
                                        from_any_state):
    """From the model's initial state, or from UNKNOWN ("any value", as a window starts)."""
    model = MODELS[name]
    single = part_model(model)
    simulation = simulate(rng, model, operations, threads, keys=1, values=values, info_percent=info_percent)
    calls = _corrupted(pair_calls(simulation.operations, model), single, corruptions)
    initial = single.unknown_state() if from_any_state else None
    expected = LINEARIZABLE if brute_force_linearizable(calls, single, initial) else NOT_LINEARIZABLE
    assert check_calls(calls, single, initial).result == expected
    if not from_any_state:
        assert check_partitioned(drop_unobserved_unknowns(calls), model).result == expected


def _call(number, f, value, invoked, completed, outcome="ok"):
    return Call(number, number, f, value, None, invoked, completed, outcome, 0)


def test_identical_unknown_writes_are_tried_in_one_order():
    """Thirty timed-out writes of the same value, then reads: without taking identical unknown
    calls earliest first, every subset of them is a configuration of its own (2^30)."""
    writes = [_call(number, "write", 1, number, NEVER, "info") for number in range(30)]
    reads = [_call(30 + number, "read", 1 if number % 2 else None, 100 + 2 * number, 101 + 2 * number)
             for number in range(10)]
    verdict = check_calls(writes + reads, REGISTER, configurations_max=100_000)
    assert verdict.result == NOT_LINEARIZABLE  # nil read after 1 was read: writes of 1 cannot be undone
    assert verdict.configurations < 2_000


def test_unknown_calls_nobody_left_can_see_are_retired():
    """A hundred timed-out writes, each read back once early on, then a long quiet history: once
    its readers are linearized, a timed-out write could only lead nowhere, so the search stops
    offering it (else each of the later configurations tries all hundred)."""
    calls = [_call(number, "write", 100 + number, number, NEVER, "info") for number in range(100)]
    calls += [_call(100 + number, "read", 100 + number, 200 + 2 * number, 201 + 2 * number) for number in range(100)]
    for number in range(200):  # then write v, read v, two hundred times, one after the other
        calls += [_call(200 + 2 * number, "write", number, 1_000 + 4 * number, 1_001 + 4 * number),
                  _call(201 + 2 * number, "read", number, 1_002 + 4 * number, 1_003 + 4 * number)]
    verdict = check_calls(calls, REGISTER)
    assert verdict.result == LINEARIZABLE
    assert verdict.configurations < 3 * len(calls)


def test_reads_that_fit_are_not_a_choice():
    """Forty clients reading nil concurrently with a write of 1, then a read of 2 nobody wrote:
    trying each nil read both before and after the write would be 2^40 orders; reads first
    leaves only where the write goes (41 places of 40 reads each)."""
    calls = [_call(0, "write", 1, 0, 100)]
    calls += [_call(number, "read", None, number, 100 + number) for number in range(1, 41)]
    calls += [_call(41, "read", 2, 200, 201)]  # nobody wrote 2: not linearizable
    verdict = check_calls(calls, REGISTER, configurations_max=100_000)
    assert verdict.result == NOT_LINEARIZABLE and verdict.configurations < 2_000


def test_a_read_from_any_state_is_a_choice():
    """From UNKNOWN a read pins the value, so it is not forced first: here read 3 must go
    before read 2 although read 2 was invoked first (the unknown write of 2 comes between)."""
    calls = [_call(0, "write", 2, 6, NEVER, "info"), _call(1, "read", 2, 16, 22), _call(2, "read", 3, 17, 24)]
    assert check_calls(calls, REGISTER, REGISTER.unknown_state()).result == LINEARIZABLE
    assert check_calls(calls, REGISTER).result == NOT_LINEARIZABLE  # from nil, 3 was never written


def test_strings_no_get_can_return_are_one_state():
    """50 clients appending to 10 keys (porcupine's c50 shape) and a stale get: refuting the key
    means exploring every order of the appends still open. Those a put erases unread differ
    only in a state nobody reads; one state for all of them keeps the search small, and without
    it the same key is not decided in fifty times the configurations."""
    simulation = simulate(random.Random(1), KV_APPEND, 1_500, 50, keys=10, info_percent=0, stale_after=900,
                          functions=APPEND_MIX)
    calls = pair_calls(simulation.operations, KV_APPEND)
    key = next(call.key for call in calls if call.invoked == simulation.stale_read_index)
    single = part_model(KV_APPEND)
    with_canonical = check_calls(partition_by_key(calls)[key], single)
    without = check_calls(partition_by_key(calls)[key], attrs.evolve(single, canonical=None),
                          configurations_max=50 * with_canonical.configurations)
    assert with_canonical.result == NOT_LINEARIZABLE
    assert without.result == UNKNOWN


def test_forgotten_state_semantics():
    canonical = part_model(KV_APPEND).canonical([Operation(0, "ok", "get", "ab"), Operation(0, "ok", "get", "abc")])
    assert canonical("a") == "a" and canonical("abc") == "abc" and canonical("b") is FORGOTTEN
    assert canonical("") == ""  # a prefix of every string
    step = part_model(KV_APPEND).step
    assert step(FORGOTTEN, Operation(0, "ok", "append", "x")) == (True, FORGOTTEN)
    assert step(FORGOTTEN, Operation(0, "ok", "put", "x")) == (True, "x")
    assert step(FORGOTTEN, Operation(0, "ok", "get", "x"))[0] is False


def test_slices_give_the_same_answer_as_one_run():
    calls = pair_calls(simulate(random.Random(4), CAS_REGISTER, 300, threads=8, values=3, info_percent=20).operations,
                       CAS_REGISTER)
    whole = check_calls(calls, CAS_REGISTER)
    search = Search(calls, CAS_REGISTER)
    verdict = None
    while verdict is None:
        verdict = search.run(7)
    assert verdict == whole


def test_a_key_that_fails_quickly_decides_while_another_searches_long(monkeypatch):
    """Keys take turns: the failing key "z" sorts last, yet the history is decided after a few of
    key "a"'s slices, not after its whole budget (porcupine gets this by racing threads)."""
    monkeypatch.setattr(search_module, "SLICE_STEPS", 50)
    hard = [attrs.evolve(call, key="a")  # a stale read late in a long history: every order before it is refuted
            for call in pair_calls(simulate(random.Random(4), REGISTER, 1_000, threads=8, stale_after=900).operations,
                                   REGISTER)]
    assert check_calls(hard, REGISTER, configurations_max=1_000).result == UNKNOWN
    failing = [attrs.evolve(_call(0, "write", 1, 10_000, 10_001), key="z"),
               attrs.evolve(_call(1, "read", 2, 10_002, 10_003), key="z")]
    verdict = check_partitioned(hard + failing, MODELS["kv"], configurations_max=1_000_000)
    assert (verdict.result, verdict.key) == (NOT_LINEARIZABLE, "z")
    assert verdict.configurations <= 200


def test_an_unknown_call_that_changes_nothing_is_not_applied():
    """Applying it only uses it up: the same state with the call still available is better."""
    calls = [_call(0, "write", 1, 0, 1), _call(1, "write", 1, 2, NEVER, "info"), _call(2, "read", 1, 3, 4)]
    search = Search(calls, REGISTER)
    assert search.run(100).result == LINEARIZABLE
    assert all(key[2] == 1 for key, _ in search.seen)  # never a configuration with the no-op applied
    assert all(unknowns == 0 for _, unknowns in search.seen)


def test_configurations_with_fewer_unknown_calls_applied_cover_the_others(monkeypatch):
    """Etcd-like: five values, many timeouts, a stale read to refute. A configuration that
    applied more unknown calls than one already explored, and is otherwise the same, has fewer
    choices: skipping it saves configurations (and changes no answer: brute force above)."""
    calls = drop_unobserved_unknowns(pair_calls(simulate(random.Random(25), CAS_REGISTER, 150, threads=5, values=5,
                                                         info_percent=15, stale_after=100).operations, CAS_REGISTER))
    with_dominance = check_calls(calls, CAS_REGISTER)
    monkeypatch.setattr(search_module, "DOMINANCE_SCAN_MAX", 0)
    exact_only = check_calls(calls, CAS_REGISTER)
    assert with_dominance.result == exact_only.result == NOT_LINEARIZABLE
    assert with_dominance.configurations < 0.9 * exact_only.configurations


def _memo_bytes_per_entry(operations: int) -> float:
    calls = pair_calls(simulate(random.Random(2), REGISTER, operations, threads=8).operations, REGISTER)
    search = Search(calls, REGISTER)
    assert search.run(10**7).result == LINEARIZABLE
    sizes = [sys.getsizeof(key) + sum(sys.getsizeof(part) for part in key[:2]) + sys.getsizeof(unknowns)
             for key, unknowns in search.seen]
    return sum(sizes) / len(sizes)


def test_a_memo_entry_does_not_grow_with_the_history():
    """The first open known call, a small bitmask and the state: not a bitset of the whole
    history (which would make memory grow with the square of the history's length)."""
    assert _memo_bytes_per_entry(8_000) < 1.2 * _memo_bytes_per_entry(1_000)
