"""The Raft report a learner reads (report.md of `kinv replay --report`): it explains its
notation, marks the step where things went wrong, and reads as prose (no doubled words such as
"commit commit=1")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from checks.cli import main

SCENARIO = Path(__file__).parent / "scenarios" / "figure8.scenario"
BUG, INVARIANT = "figure8-commit-previous-term", "RAFT-APPLIED-IS-COMMITTED"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("figure8") / "report"
    code = main(["replay", str(SCENARIO), "--bug", BUG, "--report", str(folder)])
    assert code == 1  # violated
    return (folder / "report.md").read_text()


def _section(report: str, title: str) -> str:
    return report.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_legend_explains_each_notation(report):
    legend = _section(report, "How to read the notation")
    for notation in ("`TERM:DATA`", "`INDEX=TERM:DATA`", "`INDEX:TERM`", "`prev=INDEX:TERM`", "`t=`"):
        assert notation in legend, notation


def test_the_step_where_the_leader_counted_replicas_of_an_earlier_term_is_marked(report):
    marked = [line for line in _section(report, "Shrunk steps (24)").splitlines() if "<-" in line]
    assert marked == [f"24. `stabilize`  <- {INVARIANT} broke during this step"]
    # that step is where n1, leader of term 4, commits and applies index 2 of term 2 (Figure 8's (c))
    step = _section(report, "Trace").split("step 24. ", 1)[1]
    assert "role      n1       candidate -> leader t4" in step and "commit    n1       up to index 2" in step
    assert "apply     n1       2=2:b" in step


def test_no_word_is_doubled(report):
    doubled = re.findall(r"\b([A-Za-z]+)[ =]\1\b", report)
    assert doubled == []
