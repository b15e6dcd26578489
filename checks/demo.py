"""`kinv demo`: the Raft checks hold on the reference, then the Figure 8 bug is injected and its
shrunk counterexample is shown, with where the full report and the scenario file went."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from checks.area import CheckRequest, default_report_dir
from checks.progress import ProgressReporter
from checks.raft.area import AREA
from impl.catalog import bug_by_name
from spec.invariant import invariant_by_id

__all__ = ["run_demo", "DEMO_BUG", "DEMO_SEED"]

DEMO_BUG = "figure8-commit-previous-term"
DEMO_SEED = 5  # its Figure 8 counterexample is the 3-server, 15-step one
REFERENCE_BUDGET_SECONDS = 20.0
BUG_BUDGET_SECONDS = 120.0


def _check(console: Console, bug_name: str | None, budget: float):
    bug = bug_by_name(bug_name) if bug_name else None
    with ProgressReporter("raft", budget) as progress:
        return AREA.check(CheckRequest(bug=bug, budget_seconds=budget, seed=DEMO_SEED,
                                       report_dir=default_report_dir("raft", bug, DEMO_SEED),
                                       progress=progress.update))


def run_demo(console: Console) -> int:
    console.rule("1. The reference Raft under partitions, crashes, loss and reordering")
    held = _check(console, None, REFERENCE_BUDGET_SECONDS)
    console.print(f"[green]held[/]: every Raft invariant held over {held.examples} generated runs "
                  f"({held.seconds:.0f}s, seed {DEMO_SEED}); each ended by healing all faults and "
                  f"demanding progress (RAFT-LIVENESS).")
    console.rule(f"2. The same search with the bug [bold]{DEMO_BUG}[/]")
    console.print(bug_by_name(DEMO_BUG).summary + ".")
    found = _check(console, DEMO_BUG, BUG_BUDGET_SECONDS)
    if found.result != "violated":
        console.print(f"[red]not found[/] within {BUG_BUDGET_SECONDS:.0f}s; try `kinv check raft --bug {DEMO_BUG} "
                      f"--budget 300`")
        return 1
    invariant = invariant_by_id(found.invariant)
    console.print(Panel(f"[bold red]{invariant.id}[/]\n{invariant.statement}\n\n[italic]{invariant.why}[/]",
                        title="violated", expand=False))
    report = Path(found.report)
    scenario = (report / "counterexample.scenario").read_text()
    console.print(f"Found after {found.examples} generated runs in {found.seconds:.1f}s, shrunk to "
                  f"{found.steps} steps:\n")
    console.print(scenario, markup=False, highlight=False)
    console.print(f"Full report (trace, each node's log, sequence diagram): [bold]{report / 'report.md'}[/]")
    console.print(f"Replay it:  kinv replay {report / 'counterexample.scenario'} --bug {DEMO_BUG}")
    console.print(f"Without --bug the same steps hold on the reference (and the file's `expect` line says so):  "
                  f"kinv replay {report / 'counterexample.scenario'}")
    return 0 if held.result == "held" else 1
