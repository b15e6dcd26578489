"""IMPL-EXCEPTION (DESIGN.md, "The command line"): an exception raised inside impl/ during a replay
or a check is a finding, not a crash, in the etcd and apiserver areas too (raft's and rbac's are in
tests/test_scenario_language.py and tests/test_rbac_area.py). Each case makes one impl/ method
raise and runs `kinv` in-process (checks.cli.main), so that the patch applies."""

import json

import pytest

from checks.cli import main
from impl.apiserver.writes import Writes
from impl.etcd import mvcc


def _put_fails(self, request):
    raise RuntimeError("backend: put failed")


def _create_fails(self, ctx, attributes):
    raise KeyError("metadata")


# (class, method made to raise, its replacement, a scenario that reaches it, how the finding begins: the
# exception and the impl/ file it was raised in)
CASES = {
    "etcd": (mvcc._Write, "_put", _put_fails,
             "area etcd\ncluster 3 clients=1 seed=2\ntick 40\nc1 put a 1\nsettle\n",
             "RuntimeError: backend: put failed (raised at impl/etcd/mvcc.py:"),
    "apiserver": (Writes, "persist_create", _create_fails,
                  "area apiserver\ncluster members=1 apiservers=1 clients=1 seed=3\nas admin create namespace ns9\n"
                  "settle\n",
                  "KeyError: 'metadata' (raised at impl/apiserver/writes.py:"),
}
AREAS = sorted(CASES)


def _kinv(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _raising(monkeypatch, area):
    owner, method, replacement, _, _ = CASES[area]
    monkeypatch.setattr(owner, method, replacement)


def _what_broke(report_md: str) -> str:
    (line,) = [line for line in report_md.splitlines() if line.startswith("**What broke:** ")]
    return line.removeprefix("**What broke:** ")


def _traceback(report_md: str) -> list[str]:
    """The lines of the report's traceback, from its heading to the exception."""
    start = report_md.index("Traceback (most recent call last), frames of this project:")
    return report_md[start:report_md.index("```", start)].rstrip().splitlines()


@pytest.mark.parametrize("area", AREAS)
def test_replay_reports_the_exception_with_its_traceback(tmp_path, capsys, monkeypatch, area):
    _, _, _, scenario_text, raised = CASES[area]
    scenario = tmp_path / "s.scenario"
    scenario.write_text(scenario_text + "expect violated IMPL-EXCEPTION\n")
    _raising(monkeypatch, area)
    code, out, err = _kinv(capsys, "replay", str(scenario), "--report", str(tmp_path / "r"), "--json")
    row = json.loads(out)
    assert code == 1 and err == ""  # broke as the file expects
    assert (row["area"], row["result"], row["invariant"]) == (area, "violated", "IMPL-EXCEPTION")
    report = (tmp_path / "r" / "report.md").read_text()
    assert _what_broke(report).startswith(raised)
    traceback = _traceback(report)
    exception, where = raised.split(" (raised at ")
    assert traceback[-1] == exception and any(line.strip().startswith(where) for line in traceback)
    # the same scenario without the raising method: every invariant holds, so the finding was the exception
    monkeypatch.undo()
    code, out, _ = _kinv(capsys, "replay", str(scenario), "--json")
    assert code == 1 and json.loads(out)["result"] == "held"


@pytest.mark.parametrize("area", AREAS)
def test_check_finds_the_exception_and_its_counterexample_replays_to_it(tmp_path, capsys, monkeypatch, area):
    _raising(monkeypatch, area)
    # The seed, not the clock, decides what the search finds: its first chunk of test cases already
    # writes, and it stops there; the budget only bounds a search that finds nothing.
    code, out, _ = _kinv(capsys, "check", area, "--budget", "10", "--seed", "1", "--report", str(tmp_path / "r"),
                         "--json")
    (line,) = out.splitlines()
    row = json.loads(line)
    assert code == 1 and (row["area"], row["result"], row["invariant"]) == (area, "violated", "IMPL-EXCEPTION")
    assert row["report"] == str(tmp_path / "r")
    found = _what_broke((tmp_path / "r" / "report.md").read_text())
    assert found.startswith(CASES[area][4])
    counterexample = tmp_path / "r" / "counterexample.scenario"
    assert counterexample.read_text().rstrip().endswith("expect violated IMPL-EXCEPTION")
    code, out, err = _kinv(capsys, "replay", str(counterexample), "--report", str(tmp_path / "again"), "--json")
    assert code == 1 and err == "" and json.loads(out)["invariant"] == "IMPL-EXCEPTION"
    assert _what_broke((tmp_path / "again" / "report.md").read_text()) == found  # raised at the same place
