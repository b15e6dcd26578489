"""The linearizability checker: models, Jepsen readers, the search, windows and ``kinv lincheck``."""

from __future__ import annotations

import json
import random
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.cli import main
from checks.lincheck import (LINEARIZABLE, NOT_LINEARIZABLE, UNKNOWN, HistoryError, Operation, check_history,
                             parse_history)
from checks.lincheck.generate import format_edn, format_log, simulate
from checks.lincheck.history import drop_unobserved_unknowns, pair_calls
from checks.lincheck.search import check_calls, check_partitioned
from checks.lincheck.window import cut
from spec.kv.model import CAS_REGISTER, KV, MODELS, REGISTER, UNKNOWN as ANY_VALUE

SAMPLES = Path(__file__).parent / "lincheck"


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- the models ---------------------------------------------------------------------------------

def op(f, value=None, key=None):
    return Operation(0, "ok", f, value, key)


def test_register_model():
    assert REGISTER.step(None, op("read", None)) == (True, None)
    assert REGISTER.step(None, op("write", 3)) == (True, 3)
    assert REGISTER.step(3, op("read", 4))[0] is False
    assert REGISTER.step(ANY_VALUE, op("read", 4)) == (True, 4)


def test_cas_register_model():
    assert CAS_REGISTER.step(1, op("cas", (1, 2))) == (True, 2)
    assert CAS_REGISTER.step(3, op("cas", (1, 2))) == (False, 3)
    assert CAS_REGISTER.step(ANY_VALUE, op("cas", (1, 2))) == (True, 2)


def test_kv_model_is_a_map_of_registers():
    state = KV.initial
    for f, key, value in [("write", "x", 1), ("write", "y", 2), ("cas", "x", (1, 5)), ("delete", "y", None)]:
        ok, state = KV.step(state, op(f, value, key))
        assert ok
    assert state == (("x", 5),)
    assert KV.step(state, op("read", None, "y"))[0] and not KV.step(state, op("read", 1, "x"))[0]
    assert hash(state) == hash((("x", 5),))


# --- sample histories ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, model, result", [
    ("stale-read.edn", "register", NOT_LINEARIZABLE),
    ("lost-write.edn", "register", NOT_LINEARIZABLE),
    ("concurrent-writes.edn", "register", LINEARIZABLE),
    ("concurrent-writes-flipflop.edn", "register", NOT_LINEARIZABLE),
    ("info-write-applied.edn", "register", LINEARIZABLE),
    ("info-write-not-applied.edn", "register", LINEARIZABLE),
    ("info-write-before-invoke.edn", "register", NOT_LINEARIZABLE),
    ("info-write-open-window.edn", "register", NOT_LINEARIZABLE),
    ("failed-write-ignored.edn", "register", NOT_LINEARIZABLE),
    ("cas-ok.edn", "cas-register", LINEARIZABLE),
    ("cas-double-success.edn", "cas-register", NOT_LINEARIZABLE),
    ("kv-ok.edn", "kv", LINEARIZABLE),
    ("kv-stale.edn", "kv", NOT_LINEARIZABLE),
    ("cas-log-ok.log", "cas-register", LINEARIZABLE),
    ("register-log-stale.log", "register", NOT_LINEARIZABLE),
])
def test_samples(capsys, name, model, result):
    code, out, err = run(capsys, "lincheck", SAMPLES / name, "--model", model)
    assert err == ""
    assert code == (0 if result == LINEARIZABLE else 1)
    assert out.splitlines()[0].startswith(result)


def test_stale_read_window_is_the_missed_write_and_the_read(capsys):
    code, out, _ = run(capsys, "lincheck", SAMPLES / "stale-read.edn", "--json")
    report = json.loads(out)
    assert code == 1 and report["result"] == NOT_LINEARIZABLE and report["operations"] == 3
    assert [(row["f"], row["value"]) for row in report["window"]] == [("write", "2"), ("read", "1")]


def test_kv_window_names_the_failing_key(capsys):
    code, out, _ = run(capsys, "lincheck", SAMPLES / "kv-stale.edn", "--model", "kv", "--json")
    report = json.loads(out)
    assert report["key"] == ":y"
    assert [(row["f"], row["value"]) for row in report["window"]] == [("delete", "nil"), ("read", "7")]


def test_text_output_lists_the_window(capsys):
    code, out, _ = run(capsys, "lincheck", SAMPLES / "lost-write.edn")
    assert code == 1
    assert "smallest failing window, calls 2-3 of 4" in out and "write" in out


def test_window_shows_unknown_writes_still_open(capsys):
    code, out, _ = run(capsys, "lincheck", SAMPLES / "info-write-open-window.edn", "--json")
    rows = json.loads(out)["window"]
    assert [(row["role"], row["f"], row["value"], row["outcome"]) for row in rows] == [
        ("open before", "write", "5", "info (unknown)"), ("window", "read", "5", "ok"), ("window", "read", "3", "ok")]


def test_linearizable_prints_one_word(capsys):
    code, out, _ = run(capsys, "lincheck", SAMPLES / "concurrent-writes.edn")
    assert (code, out) == (0, "linearizable\n")


# --- malformed input: one line, exit 2 ------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("{:process 0, :type :invoke, :f :write", ":1: '{' is never closed"),
    ("{:process 0, :type :invoke}", ":1: operation lacks :f"),
    ("{:process 0, :type :begin, :f :read}", ":1: :type must be one of"),
    ("{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :invoke, :f :write, :value 2}",
     ":2: process 0 invokes :write while its :write (line 1) is pending"),
    ("{:process 0, :type :ok, :f :read, :value 1}", ":1: process 0 completes :read without invoking it"),
    ("{:process 0, :type :invoke, :f :cas, :value [1 2]}", ":1: operation :cas is not in the register model"),
    ("{:process \"a\", :type :invoke, :f :read}", ":1: :process must be an integer"),
    ("[1 2]", ":1: expected an operation map"),
    ("\n\n{:process 0 :type :invoke :f :read} }", ":3: unexpected '}'"),
    ("; only a comment\n", ":1: no client operations found"),
    ("INFO  jepsen.util - 0\t:invoke\n", ":1: a jepsen.util line needs"),
    ("INFO  jepsen.util - 0\t:invoke\t:write\t[1\n", ":1: '[' is never closed"),
    ("{:process 0, :type :invoke, :f :write, :value " + "[" * 500 + "]" * 500 + "}", ":1: nested deeper than 100"),
])
def test_malformed_input_is_one_line_and_exit_2(tmp_path, capsys, text, message):
    path = tmp_path / "bad.edn"
    path.write_text(text)
    code, out, err = run(capsys, "lincheck", path)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"{path}{message}" in err, err


def test_kv_values_must_be_pairs(tmp_path, capsys):
    path = tmp_path / "kv.edn"
    path.write_text("{:process 0, :type :invoke, :f :write, :value 3}\n")
    code, _, err = run(capsys, "lincheck", path, "--model", "kv")
    assert code == 2 and "kv.edn:1: a kv operation's :value must be [key value]" in err


def test_missing_file_and_unknown_model(tmp_path, capsys):
    assert run(capsys, "lincheck", tmp_path / "absent.edn")[0] == 2
    code, _, err = run(capsys, "lincheck", SAMPLES / "stale-read.edn", "--model", "queue")
    assert code == 2 and err.count("\n") == 1


# --- the readers ----------------------------------------------------------------------------------

def test_edn_vector_tags_index_and_time():
    text = ('[#jepsen.history.Op{:index 5, :time 9, :process 0, :type :ok, :f :write, :value "a b"}\n'
            ' {:index 2, :process 0, :type :invoke, :f :write, :value "a b"} ; comment\n'
            ' {:process :nemesis, :type :info, :f :kill, :value nil}]')
    operations = parse_history(text)
    assert [(o.index, o.type, o.value, o.line, o.time) for o in operations] == [
        (2, "invoke", "a b", 2, None), (5, "ok", "a b", 1, 9)]


def test_log_lines_with_timestamps_and_trailing_comments():
    text = ("2017-03-01 12:00:00,001{GMT}\tINFO\t[jepsen worker 0] jepsen.util - 3\t:invoke\t:cas\t[1 2]\n"
            "INFO  jepsen.core - something else\n"
            "INFO  jepsen.util - 3\t:info\t:cas\t[1 2]\tindeterminate: timeout\n")
    operations = parse_history(text)
    assert [(o.process, o.type, o.f, o.value, o.line) for o in operations] == [
        (3, "invoke", "cas", (1, 2), 1), (3, "info", "cas", (1, 2), 3)]


def test_unfinished_invocations_are_unknown_and_reads_unknown_are_dropped():
    text = ("{:process 0, :type :invoke, :f :write, :value 1}\n"
            "{:process 1, :type :invoke, :f :read, :value nil}\n"
            "{:process 1, :type :info, :f :read, :value nil}\n")
    calls = pair_calls(parse_history(text), REGISTER)
    assert [(call.f, call.outcome, call.known) for call in calls] == [("write", "info", False)]


# --- the search's bound ---------------------------------------------------------------------------

def test_search_too_large_answers_unknown_instead_of_hanging():
    simulation = simulate(random.Random(3), CAS_REGISTER, 300, threads=8)
    calls = pair_calls(simulation.operations, CAS_REGISTER)
    assert check_calls(calls, CAS_REGISTER, configurations_max=50).result == UNKNOWN
    assert check_calls(calls, CAS_REGISTER).result == LINEARIZABLE


# --- properties -----------------------------------------------------------------------------------

histories = st.tuples(st.sampled_from(sorted(MODELS)), st.randoms(use_true_random=False),
                      st.integers(1, 40), st.integers(1, 6), st.integers(1, 3))


@given(histories)
def test_simulated_histories_are_linearizable(drawn):
    name, rng, operations, threads, keys = drawn
    model = MODELS[name]
    simulation = simulate(rng, model, operations, threads, keys)
    assert check_history(simulation.operations, model).result == LINEARIZABLE


@given(histories)
def test_an_injected_stale_read_is_found_and_inside_the_window(drawn):
    name, rng, operations, threads, keys = drawn
    model = MODELS[name]
    simulation = simulate(rng, model, operations + 20, threads, keys, stale_after=operations // 2)
    outcome = check_history(simulation.operations, model)
    if simulation.stale_read_index is None:
        assert outcome.result == LINEARIZABLE
        return
    assert outcome.result == NOT_LINEARIZABLE
    window = outcome.window
    assert simulation.stale_read_index in [call.invoked for call in window.calls]
    assert window.end - window.start <= outcome.calls


@settings(max_examples=10)
@given(histories, st.booleans())
def test_both_formats_read_back_what_was_written(drawn, as_log):
    name, rng, operations, threads, keys = drawn
    model = MODELS[name]
    simulation = simulate(rng, model, operations, threads, keys)
    text = (format_log if as_log else format_edn)(simulation.operations, model.keyed)
    parsed = parse_history(text, keyed=model.keyed)
    assert [(o.process, o.type, o.f, o.value, o.key) for o in parsed] == [
        (o.process, o.type, o.f, o.value, o.key) for o in simulation.operations]


def test_history_error_is_typed():
    with pytest.raises(HistoryError, match=r"^h.edn:1: "):
        parse_history("{:process 0}", "h.edn")


@given(histories, st.booleans())
def test_dropping_unobserved_unknown_writes_changes_no_verdict(drawn, stale):
    name, rng, operations, threads, keys = drawn
    model = MODELS[name]
    simulation = simulate(rng, model, operations + 10, threads, keys, stale_after=operations if stale else None)
    calls = pair_calls(simulation.operations, model)
    assert (check_partitioned(calls, model).result
            == check_partitioned(drop_unobserved_unknowns(calls), model).result)


@given(histories)
def test_the_reported_window_fails_on_its_own(drawn):
    name, rng, operations, threads, keys = drawn
    model = MODELS[name]
    simulation = simulate(rng, model, operations + 20, threads, keys, stale_after=operations // 2)
    outcome = check_history(simulation.operations, model)
    if outcome.window is None:
        return
    window = outcome.window
    calls = drop_unobserved_unknowns(pair_calls(simulation.operations, model))
    part = [call for call in calls if call.key == window.key]
    initial = model.unknown_state((window.key,)) if window.from_any_state else None
    assert check_calls(cut(part, window.start, window.cut_time), model, initial).result == NOT_LINEARIZABLE
    shorter = cut(part, window.start + 1, window.cut_time)
    if window.from_any_state and window.start + 1 < window.end:
        assert check_calls(shorter, model, model.unknown_state((window.key,))).result == LINEARIZABLE


def test_stale_read_in_a_long_single_register_history_is_found_with_a_short_window():
    simulation = simulate(random.Random(1), REGISTER, 1_000, threads=8, stale_after=1_000)
    outcome = check_history(simulation.operations, REGISTER)
    assert outcome.result == NOT_LINEARIZABLE
    assert outcome.window.from_any_state and len(outcome.window.calls) <= 20
    assert simulation.stale_read_index in [call.invoked for call in outcome.window.calls]


def test_search_too_large_is_unknown_exit_3(tmp_path, capsys, monkeypatch):
    import functools

    import checks.kv.cli

    simulation = simulate(random.Random(3), CAS_REGISTER, 200, threads=8)
    path = tmp_path / "big.edn"
    path.write_text(format_edn(simulation.operations))
    monkeypatch.setattr(checks.kv.cli, "check_history", functools.partial(check_history, configurations_max=20))
    code, out, err = run(capsys, "lincheck", path, "--model", "cas-register")
    assert (code, err) == (3, "") and out.startswith("unknown: search too large (gave up after 20 configurations")
    code, out, _ = run(capsys, "lincheck", path, "--model", "cas-register", "--json")
    assert code == 3 and json.loads(out)["result"] == UNKNOWN


def test_map_values_are_hashable(tmp_path, capsys):
    path = tmp_path / "maps.edn"
    path.write_text("{:process 0, :type :invoke, :f :write, :value {:a [1 2]}}\n"
                    "{:process 0, :type :ok, :f :write, :value {:a [1 2]}}\n"
                    "{:process 1, :type :invoke, :f :read, :value nil}\n"
                    "{:process 1, :type :ok, :f :read, :value {:a [1 2]}}\n")
    assert run(capsys, "lincheck", path)[0] == 0


@settings(max_examples=200)
@given(st.lists(st.sampled_from(["{", "}", "[", "]", "(", ")", "#{", "#tag", ":process", ":type", ":f", ":value",
                                 ":invoke", ":ok", ":fail", ":info", ":read", ":write", ":cas", "nil", "0", "1",
                                 "-2", "1.5", '"s"', '"\\"', ";", "\n", " ", ",", "x", "+", "INFO  jepsen.util - ",
                                 "\t", "1N", "#_"]), max_size=40),
       st.sampled_from(sorted(MODELS)))
def test_any_text_is_checked_or_rejected_with_a_history_error(tokens, name):
    model = MODELS[name]
    try:
        operations = parse_history("".join(tokens), "fuzz.edn", keyed=model.keyed)
        check_history(operations, model, "fuzz.edn", configurations_max=1_000)
    except HistoryError as error:
        assert str(error).startswith("fuzz.edn") and "\n" not in str(error)


def test_same_history_same_output_byte_for_byte(tmp_path, capsys):
    simulation = simulate(random.Random(11), KV, 400, threads=8, keys=10, stale_after=500)
    path = tmp_path / "kv.edn"
    path.write_text(format_edn(simulation.operations, keyed=True))
    first = run(capsys, "lincheck", path, "--model", "kv", "--json")
    second = run(capsys, "lincheck", path, "--model", "kv", "--json")
    assert first == second and first[0] == 1
    assert json.loads(first[1])["window"]


def test_keys_are_checked_apart_so_many_keys_stay_cheap():
    simulation = simulate(random.Random(5), KV, 3_000, threads=8, keys=50)
    outcome = check_history(simulation.operations, KV)
    assert outcome.result == LINEARIZABLE
    assert outcome.verdict.configurations < 10 * outcome.calls  # near-greedy per key


# --- differential: the search against brute force on small histories -----------------------------

def brute_force_linearizable(calls, model) -> bool:
    """Every order of every choice of unknown calls, checked against real time and the model."""
    import itertools

    known = [call for call in calls if call.known]
    unknown = [call for call in calls if not call.known]
    for size in range(len(unknown) + 1):
        for chosen in itertools.combinations(unknown, size):
            for order in itertools.permutations(known + list(chosen)):
                if _respects_real_time(order) and _model_accepts(order, model):
                    return True
    return False


def _respects_real_time(order) -> bool:
    return all(not (later.completed < earlier.invoked)
               for position, earlier in enumerate(order) for later in order[position + 1:])


def _model_accepts(order, model) -> bool:
    state = model.initial
    for call in order:
        ok, state = model.step(state, call)
        if not ok:
            return False
    return True


@given(st.sampled_from(["register", "cas-register"]), st.randoms(use_true_random=False), st.integers(1, 6),
       st.integers(1, 4), st.lists(st.integers(0, 6), max_size=3))
def test_search_agrees_with_brute_force(name, rng, operations, threads, corruptions):
    model = MODELS[name]
    calls = pair_calls(simulate(rng, model, operations, threads).operations, model)
    reads = [position for position, call in enumerate(calls) if call.f == "read"]
    for corruption in corruptions:  # overwrite some reads' values: often no longer linearizable
        if reads:
            position = reads[corruption % len(reads)]
            calls[position] = attrs.evolve(calls[position], value=corruption)
    expected = LINEARIZABLE if brute_force_linearizable(calls, model) else NOT_LINEARIZABLE
    assert check_calls(calls, model).result == expected
    assert check_partitioned(drop_unobserved_unknowns(calls), model).result == expected
