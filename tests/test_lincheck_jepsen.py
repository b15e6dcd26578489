"""``kinv lincheck`` on histories as Jepsen writes them: timeouts, spaces, crashed clients,
``:fail``, three generations of log lines, porcupine's kv files; many files in one process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import checks.lincheck.jepsen as jepsen
from checks.cli import main
from checks.lincheck import LINEARIZABLE, NOT_LINEARIZABLE, UNKNOWN, Operation, check_history, parse_history
from checks.lincheck.corpus import corpus
from checks.lincheck.history import pair_calls
from spec.kv.model import CAS_REGISTER, KV, KV_APPEND

CORPUS = Path(__file__).parent / "lincheck" / "jepsen"
CORPUS_SEED, CORPUS_FILES, CORPUS_SCALE = 3, 32, 0.08  # what tests/lincheck/jepsen holds


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- Jepsen's conventions -----------------------------------------------------------------------

ETCD_LOG = """\
INFO  jepsen.util - 0\t:invoke\t:write\t3
INFO  jepsen.util - 0\t:ok\t:write\t3
INFO  jepsen.util - 1\t:invoke\t:cas\t[3 4]
INFO  jepsen.util - 2\t:invoke\t:write\t1
INFO  jepsen.util - 1\t:info\t:cas\t:timed-out
INFO  jepsen.util - 2\t:info\t:write\t:timed-out
INFO  jepsen.util - 3\t:invoke\t:read\tnil
INFO  jepsen.util - 3\t:fail\t:read\t:timed-out
INFO  jepsen.util - 6\t:invoke\t:read\tnil
INFO  jepsen.util - 6\t:ok\t:read\t4
INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]
INFO  jepsen.util - 0\t:fail\t:cas\t[1 2]
"""


def test_a_timeout_completes_with_the_invocations_value():
    """Jepsen writes the error where the value was (``:info :cas :timed-out``); as Knossos does,
    the invocation says what was asked and the :info only that nobody knows if it happened."""
    calls = pair_calls(parse_history(ETCD_LOG), CAS_REGISTER)
    assert [(call.process, call.f, call.value, call.outcome) for call in calls] == [
        (0, "write", 3, "ok"), (1, "cas", (3, 4), "info"), (2, "write", 1, "info"), (6, "read", 4, "ok")]
    assert check_history(parse_history(ETCD_LOG), CAS_REGISTER).result == LINEARIZABLE  # the cas happened


def test_log_fields_separated_by_spaces_read_as_with_tabs():
    spaced = ETCD_LOG.expandtabs(8).replace("jepsen.util - 1", "jepsen.util - 1  ")
    assert parse_history(spaced) == parse_history(ETCD_LOG)


@pytest.mark.parametrize("prefix", [
    "INFO  jepsen.util - ",
    "2017-03-01 12:00:00,001{GMT}\tINFO\t[jepsen worker 0] jepsen.util - ",
    "INFO [2021-02-23 10:31:11,242] jepsen worker 2 - jepsen.util ",
])
def test_three_generations_of_log_lines(prefix):
    text = ETCD_LOG.replace("INFO  jepsen.util - ", prefix)
    text += prefix + ":nemesis\t:info\t:start\t\"Cut off {:n1 #{:n3 :n2}}\"\n"
    text += prefix + "Relative time begins now\n"  # jepsen.util logs more than operations
    assert [(op.process, op.type, op.f, op.value) for op in parse_history(text)] == [
        (op.process, op.type, op.f, op.value) for op in parse_history(ETCD_LOG)]


def test_a_crashed_client_is_replaced_and_its_call_stays_open():
    """Jepsen retires a client whose call timed out and continues its thread as a new process
    (process + concurrency); a call never completed at all is as unknown as a timeout."""
    text = ("{:process 0, :type :invoke, :f :write, :value 1}\n"
            "{:process 0, :type :info, :f :write, :value nil, :error :timeout}\n"
            "{:process 5, :type :invoke, :f :write, :value 2}\n"  # thread 0 again, as process 5
            "{:process 1, :type :invoke, :f :read, :value nil}\n"
            "{:process 1, :type :ok, :f :read, :value 2}\n"
            "{:process 1, :type :invoke, :f :read, :value nil}\n"
            "{:process 1, :type :ok, :f :read, :value 1}\n")
    calls = pair_calls(parse_history(text), CAS_REGISTER)
    assert [(call.process, call.value, call.outcome) for call in calls if call.f == "write"] == [
        (0, 1, "info"), (5, 2, "info")]
    assert check_history(parse_history(text), CAS_REGISTER).result == LINEARIZABLE  # 2, then the timed-out 1


def test_independent_keys_of_a_timeout_come_from_the_invocation():
    text = ("{:process 0, :type :invoke, :f :write, :value [7 1]}\n"
            "{:process 0, :type :info, :f :write, :value :timed-out}\n"
            "{:process 1, :type :invoke, :f :read, :value [7 nil]}\n"
            "{:process 1, :type :ok, :f :read, :value [7 1]}\n")
    calls = pair_calls(parse_history(text, keyed=True), KV)
    assert [(call.key, call.f, call.value, call.outcome) for call in calls] == [
        (7, "write", 1, "info"), (7, "read", 1, "ok")]


# --- kv-append: porcupine's kv histories ---------------------------------------------------------

APPEND = """\
{:process 0, :type :invoke, :f :append, :key "1", :value "x 0 0 y"}
{:process 1, :type :invoke, :f :get, :key "1", :value nil}
{:process 0, :type :ok, :f :append, :key "1", :value "x 0 0 y"}
{:process 1, :type :ok, :f :get, :key "1", :value ""}
{:process 2, :type :invoke, :f :append, :key "1", :value "x 2 0 y"}
{:process 2, :type :ok, :f :append, :key "1", :value "x 2 0 y"}
{:process 3, :type :invoke, :f :get, :key "2", :value nil}
{:process 3, :type :ok, :f :get, :key "2", :value nil}
{:process 1, :type :invoke, :f :get, :key "1", :value nil}
{:process 1, :type :ok, :f :get, :key "1", :value "x 0 0 yx 2 0 y"}
"""


def test_kv_append_reads_keys_and_appends(tmp_path, capsys):
    path = tmp_path / "kv.txt"
    path.write_text(APPEND)
    assert run(capsys, "lincheck", path, "--model", "kv-append")[:2] == (0, "linearizable\n")
    path.write_text(APPEND.replace('"x 0 0 yx 2 0 y"', '"x 2 0 yx 0 0 y"'))  # the appends completed in order
    code, out, _ = run(capsys, "lincheck", path, "--model", "kv-append", "--json")
    assert code == 1 and json.loads(out)["key"] == '"1"'


def test_kv_append_values_must_be_strings(tmp_path, capsys):
    path = tmp_path / "kv.txt"
    path.write_text(APPEND.replace('"x 2 0 y"}', '3}', 1))
    code, out, err = run(capsys, "lincheck", path, "--model", "kv-append")
    assert (code, out) == (2, "") and err == f"kinv: {path}:5: :append needs a string value, got 3\n"


def test_kv_append_model():
    step = KV_APPEND.step
    ok, state = step((), _op("append", "a", "k"))
    assert ok and step(state, _op("get", "a", "k"))[0] and step(state, _op("get", None, "j"))[0]
    assert not step(state, _op("get", "", "k"))[0]
    assert step(state, _op("put", "b", "k")) == (True, (("k", "b"),))


def _op(f, value, key):
    return Operation(0, "ok", f, value, key)


# --- the fast readers agree with the general one ------------------------------------------------

@settings(max_examples=8)
@given(st.integers(0, 2**16), st.integers(0, 3))
def test_fast_readers_read_what_the_general_reader_reads(seed, family):
    item = list(corpus(seed, 4, 0.05))[family]
    keyed = item.model in ("kv", "kv-append")
    fast = parse_history(item.text, item.name, keyed)
    original = (jepsen.flat_maps, jepsen.flat_fields, jepsen.flat_operation)
    jepsen.flat_maps, jepsen.flat_fields, jepsen.flat_operation = (
        (lambda text, wanted: None), (lambda text: None), (lambda text, start: None))
    try:
        general = parse_history(item.text, item.name, keyed)
    finally:
        jepsen.flat_maps, jepsen.flat_fields, jepsen.flat_operation = original
    assert fast == general


# --- many files in one process -------------------------------------------------------------------

def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = "{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :ok, :f :write, :value 1}\n"
BAD = GOOD + "{:process 1, :type :invoke, :f :read, :value nil}\n{:process 1, :type :ok, :f :read, :value 2}\n"


def test_one_json_line_per_file_and_the_worst_exit_code(tmp_path, capsys):
    good, bad = _write(tmp_path, "good.edn", GOOD), _write(tmp_path, "bad.edn", BAD)
    broken = _write(tmp_path, "broken.edn", "{:process 0")
    code, out, err = run(capsys, "lincheck", good, bad, good, "--json")
    assert code == 1 and [json.loads(line)["result"] for line in out.splitlines()] == [
        LINEARIZABLE, NOT_LINEARIZABLE, LINEARIZABLE]
    code, out, err = run(capsys, "lincheck", good, broken, bad, "--json")
    assert code == 2 and err == f"kinv: {broken}:1: '{{' is never closed\n"  # the others are still checked
    assert [json.loads(line)["result"] for line in out.splitlines()] == [LINEARIZABLE, "error", NOT_LINEARIZABLE]


def test_text_answers_name_their_file(tmp_path, capsys):
    good, bad = _write(tmp_path, "good.edn", GOOD), _write(tmp_path, "bad.edn", BAD)
    code, out, _ = run(capsys, "lincheck", good, bad)
    assert code == 1 and out.startswith(f"{good}: linearizable\n{bad}: not linearizable: smallest failing window")


def test_the_window_is_never_wrapped(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    path = CORPUS / "etcd-028-stale.log"
    code, out, _ = run(capsys, "lincheck", path, "--model", "cas-register")
    assert code == 1 and "│ pending at the cut │" in out and f"{path}" not in out  # one file: no prefix


def test_undecided_is_exit_3_unless_a_file_fails(tmp_path, capsys, monkeypatch):
    import functools

    import checks.kv.cli

    monkeypatch.setattr(checks.kv.cli, "check_history", functools.partial(check_history, configurations_max=1))
    many = _write(tmp_path, "many.edn", "".join(
        f"{{:process {p}, :type :invoke, :f :write, :value {p}}}\n" for p in range(3)) + "".join(
        f"{{:process {p}, :type :ok, :f :write, :value {p}}}\n" for p in range(3)))
    code, out, err = run(capsys, "lincheck", many, _write(tmp_path, "good.edn", GOOD))
    assert (code, err) == (3, "") and out.startswith(f"{many}: unknown: search too large")
    bad = _write(tmp_path, "bad.edn", "{:process 1, :type :invoke, :f :read, :value nil}\n"
                                      "{:process 1, :type :ok, :f :read, :value 2}\n")
    assert run(capsys, "lincheck", many, bad)[0] == 1


# --- the checked-in corpus: real-shaped files, verdicts known independently ---------------------

def _manifest() -> list[tuple[str, str, str, str]]:
    """(file, model, expected, how it is known): by construction, or porcupine's verdict."""
    rows = [line.split("\t") for line in (CORPUS / "expected.tsv").read_text().splitlines()[1:]]
    return [(name, model, expected, source) for name, model, expected, source in rows]


def test_the_checked_in_corpus_is_what_the_generator_writes():
    files = list(corpus(CORPUS_SEED, CORPUS_FILES, CORPUS_SCALE))
    assert sorted(path.name for path in CORPUS.iterdir() if path.name != "expected.tsv") == sorted(
        item.name for item in files)
    for item in files:
        assert (CORPUS / item.name).read_text() == item.text, item.name
    by_construction = {item.name: item.expected for item in files if item.expected is not None}
    assert {name: expected for name, _, expected, source in _manifest() if source == "construction"} == by_construction


@pytest.mark.parametrize("model", ["cas-register", "kv", "kv-append"])
def test_every_checked_in_file_gets_its_known_answer(capsys, model):
    rows = [row for row in _manifest() if row[1] == model]
    code, out, err = run(capsys, "lincheck", *[CORPUS / name for name, *_ in rows], "--model", model, "--json")
    answers = {Path(json.loads(line)["file"]).name: json.loads(line)["result"] for line in out.splitlines()}
    assert err == "" and answers == {name: expected for name, _, expected, _ in rows}
    assert code == (1 if NOT_LINEARIZABLE in answers.values() else 0) and UNKNOWN not in answers.values()
