"""``kinv lincheck --model auto``: each file's model chosen from its operations, so that one process
checks a Jepsen store of several workloads; and what ``kinv lincheck --help`` promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checks.cli import main
from checks.lincheck import LINEARIZABLE, NOT_LINEARIZABLE, HistoryError, parse_history
from checks.lincheck.choose import choose_model
from checks.lincheck.corpus import FAMILIES, write_corpus
from checks.lincheck.jepsen import parse_operations

STORE_SEED, FILES_PER_FAMILY, STORE_SCALE = 11, 24, 0.2  # 96 files, a few seconds


def run(capsys, *argv):
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _history(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


# --- the model each history calls for -------------------------------------------------------------

@pytest.mark.parametrize("text, model", [
    (_history("{:process 0, :type :invoke, :f :write, :value 1}", "{:process 0, :type :ok, :f :write, :value 1}",
              "{:process 1, :type :invoke, :f :read, :value nil}", "{:process 1, :type :ok, :f :read, :value 1}"),
     "register"),
    (_history("{:process 0, :type :invoke, :f :cas, :value [1 2]}", "{:process 0, :type :fail, :f :cas, :value [1 2]}"),
     "cas-register"),
    (_history("{:process 0, :type :invoke, :f :cas, :value [7 [1 2]]}",  # independent: [key [old new]]
              "{:process 0, :type :info, :f :cas, :value :timed-out}"), "kv"),
    (_history("{:process 0, :type :invoke, :f :write, :value [7 1]}", "{:process 0, :type :ok, :f :write, :value [7 1]}",
              "{:process 1, :type :invoke, :f :read, :value [7 nil]}", "{:process 1, :type :ok, :f :read, :value [7 1]}"),
     "kv"),
    (_history('{:process 0, :type :invoke, :f :read, :key "a", :value nil}',  # porcupine's :key field
              '{:process 0, :type :ok, :f :read, :key "a", :value nil}'), "kv"),
    (_history('{:process 0, :type :invoke, :f :append, :key "1", :value "x 0 y"}',
              '{:process 0, :type :ok, :f :append, :key "1", :value "x 0 y"}'), "kv-append"),
    # a register holding pairs, read empty first: the nil read is no [key value], so no keys
    (_history("{:process 0, :type :invoke, :f :read, :value nil}", "{:process 0, :type :ok, :f :read, :value nil}",
              "{:process 0, :type :invoke, :f :write, :value [1 2]}", "{:process 0, :type :ok, :f :write, :value [1 2]}"),
     "register"),
    ("INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\nINFO  jepsen.util - 0\t:info\t:cas\t:timed-out\n", "cas-register"),
])
def test_the_model_is_chosen_from_the_operations(text, model):
    assert choose_model(parse_operations(text, "h.edn"), "h.edn").name == model


@pytest.mark.parametrize("text, message", [
    (_history("{:process 0, :type :invoke, :f :read, :value nil}", "{:process 0, :type :ok, :f :read, :value nil}",
              '{:process 1, :type :invoke, :f :get, :key "a", :value nil}'),
     "h.edn:3: operations :read, :get are in no one model (cas-register: :read, :write, :cas; "),
    (_history("{:process 0, :type :invoke, :f :txn, :value [[:r 1 nil]]}"), "h.edn:1: operation :txn is in no model ("),
    (_history("{:process 0, :type :invoke, :f :delete, :value nil}"),
     "h.edn:1: operations :delete are kv's, which needs a key on each operation (a :key field or [key value] values)"),
    (_history('{:process 0, :type :invoke, :f :put, :value "x"}'), "h.edn:1: operations :put are kv-append's, which"),
])
def test_no_guess_when_no_model_fits(text, message):
    with pytest.raises(HistoryError) as raised:
        choose_model(parse_operations(text, "h.edn"), "h.edn")
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_operations_as_written_read_as_each_model_reads_them():
    text = _history('{:process 0, :type :invoke, :f :write, :key "a", :value [1 2]}',
                    '{:process 0, :type :ok, :f :write, :key "a", :value [1 2]}')
    written = parse_operations(text)
    assert [(op.key, op.value) for op in written] == [("a", (1, 2))] * 2
    assert [(op.key, op.value) for op in parse_history(text, keyed=True)] == [("a", (1, 2))] * 2
    assert [(op.key, op.value) for op in parse_history(text, keyed=False)] == [(None, (1, 2))] * 2


# --- kinv lincheck --model auto -------------------------------------------------------------------

def test_a_store_of_every_family_in_one_call_gets_its_known_answers(tmp_path, capsys):
    files = write_corpus(tmp_path, STORE_SEED, FILES_PER_FAMILY * len(FAMILIES), STORE_SCALE)
    code, out, err = run(capsys, "lincheck", "--model", "auto", "--json", *[tmp_path / item.name for item in files])
    rows = {Path(row["file"]).name: row for row in map(json.loads, out.splitlines())}
    assert err == "" and sorted(rows) == sorted(item.name for item in files)
    assert {name: row["model"] for name, row in rows.items()} == {item.name: item.model for item in files}
    known = {item.name: item.expected for item in files if item.expected is not None}
    assert {name: rows[name]["result"] for name in known} == known
    assert {row["result"] for row in rows.values()} == {LINEARIZABLE, NOT_LINEARIZABLE}  # none undecided
    assert code == 1  # some stale read was injected


def test_a_file_no_model_fits_is_answered_after_the_others_exit_2(tmp_path, capsys):
    mixed = tmp_path / "mixed.edn"
    mixed.write_text(_history("{:process 0, :type :invoke, :f :read, :value nil}",
                              '{:process 1, :type :invoke, :f :get, :key "a", :value nil}'))
    good = tmp_path / "good.edn"
    good.write_text(_history("{:process 0, :type :invoke, :f :cas, :value [nil 1]}",
                             "{:process 0, :type :ok, :f :cas, :value [nil 1]}"))
    code, out, err = run(capsys, "lincheck", "--model", "auto", "--json", mixed, good)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"kinv: {mixed}:2: operations :read, :get")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(row["model"], row["result"]) for row in rows] == [(None, "error"), ("cas-register", LINEARIZABLE)]


def test_the_text_answer_names_the_model_chosen(tmp_path, capsys):
    good = tmp_path / "good.edn"
    good.write_text(_history("{:process 0, :type :invoke, :f :write, :value 1}",
                             "{:process 0, :type :ok, :f :write, :value 1}"))
    assert run(capsys, "lincheck", "--model", "auto", good)[:2] == (0, "(register) linearizable\n")
    assert run(capsys, "lincheck", good)[:2] == (0, "linearizable\n")  # the default model, as before auto


def test_help_states_the_exit_codes_and_auto(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["lincheck", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps at the terminal's width
    assert exited.value.code == 0
    for promise in ("0 every file linearizable", "1 some file not linearizable", "2 a usage error, or some file could "
                    "not be read", "3 some file undecided", "auto chooses per file", "(default: register)"):
        assert promise in text, promise
