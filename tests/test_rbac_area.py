"""The rbac area under `kinv check`: held on the reference, JSON line format, deterministic reports."""

import json

from checks.area import CheckRequest
from checks.cli import main
from checks.rbac.area import AREA
from impl.catalog import bug_by_name


def test_reference_holds(capsys):
    code = main(["check", "rbac", "--budget", "2", "--json"])
    line = capsys.readouterr().out.strip()
    assert code == 0
    result = json.loads(line)
    assert set(result) >= {"area", "bug", "result", "invariant", "examples", "steps", "seconds", "seed", "report"}
    assert result["area"] == "rbac" and result["result"] == "held" and result["examples"] > 20


def test_bug_json_and_report_folder(capsys, tmp_path):
    code = main(["check", "rbac", "--bug", "url-prefix-without-star", "--json", "--report", str(tmp_path / "r")])
    result = json.loads(capsys.readouterr().out.strip())
    assert code == 1
    assert result["invariant"] == "RBAC-MATCHES-MODEL" and result["report"] == str(tmp_path / "r")
    report = (tmp_path / "r" / "report.md").read_text()
    assert "kinv rbac can-i get" in report


import pytest


@pytest.mark.parametrize("name", ["aggregation-not-transitive", "chain-deny-passes-on", "node-reads-any-namespace"])
def test_same_bug_same_report_bytes(tmp_path, name):
    bug = bug_by_name(name)
    for folder in ("a", "b"):
        AREA.check(CheckRequest(bug=bug, budget_seconds=1, seed=3, report_dir=tmp_path / folder))
    for name in ("report.md", "policy.yaml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_property_report_names_the_concrete_request(tmp_path):
    """A refuted chain property reports the request z3 found, with the members' answers."""
    AREA.check(CheckRequest(bug=bug_by_name("chain-deny-passes-on"), budget_seconds=1, seed=0, report_dir=tmp_path))
    report = (tmp_path / "report.md").read_text()
    assert "RBAC-CHAIN-FIRST-DECISIVE violated" in report
    assert "chain said Allow to alice in groups contractors: get secrets in namespace team-a" in report


def test_replay_is_an_input_error(capsys, tmp_path):
    from checks.area import InputError

    with pytest.raises(InputError, match="rbac has no scenario files yet"):
        AREA.replay("", "x.scenario", None, None)


def test_an_exception_inside_impl_is_the_impl_exception_finding(monkeypatch, tmp_path):
    # As a mutant that keeps an aggregated role's own rules did: aggregation never settles and
    # the authorizer raises. A finding with a report, not a crash of `kinv check`.
    from impl.apiserver.authz.rbac import RbacSemantics

    def never_settles(self, cluster_roles):
        raise AssertionError("aggregation did not reach a fixpoint")

    monkeypatch.setattr(RbacSemantics, "aggregate", never_settles)
    result = AREA.check(CheckRequest(bug=None, budget_seconds=1, seed=1, report_dir=tmp_path))
    assert (result.result, result.invariant) == ("violated", "IMPL-EXCEPTION")
    report = (tmp_path / "report.md").read_text()
    assert "AssertionError: aggregation did not reach a fixpoint (raised at impl/apiserver/authz/rbac.py:" in report
