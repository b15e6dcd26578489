"""`kinv demo`: for Raft, the replicated etcd store and the API server, the checks hold on the
reference, then a catalog bug is injected and its shrunk counterexample is shown, with where the
full report and the scenario file went. The API server's part opens with one request's path from
a real run, drawn as a sequence diagram; the demo ends with the controllers carrying a Deployment
through to running pods, drawn the same way (their checks are still to come)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
from rich.console import Console
from rich.panel import Panel

from checks.area import CheckRequest, CheckResult, default_report_dir, load_area
from checks.progress import ProgressReporter
from impl.catalog import bug_by_name
from spec.invariant import invariant_by_id

__all__ = ["run_demo", "PARTS", "DEMO_SEED"]

DEMO_SEED = 5  # the seed of every search of the demo


@attrs.frozen
class Part:
    area: str
    title: str
    bug: str
    held_text: str
    reference_budget: float
    bug_budget: float = 120.0
    preamble: Any = None  # (console) -> None: what to show before the search


def _request_path(console: Console) -> None:
    """The seed's request path from a real run: `kubectl create deployment` through one
    instance to the store and out to a watcher."""
    from checks.apiserver.request_path import DEPLOYMENT_LINE, request_path

    diagram, summary = request_path()
    console.print(f"One request, from a real run: alice runs the equivalent of `kubectl {DEPLOYMENT_LINE}` "
                  f"while an informer watches deployments (paste into any Mermaid viewer):\n")
    console.print("```mermaid\n" + diagram + "\n```", markup=False, highlight=False)
    console.print(summary + "\n")


PARTS = (
    Part("raft", "The reference Raft under partitions, crashes, loss and reordering",
         "figure8-commit-previous-term",
         "every Raft invariant held over {examples} generated runs ({seconds:.0f}s, seed {seed}); each ended "
         "by healing all faults and demanding progress (RAFT-LIVENESS).", 20.0),
    Part("etcd", "The replicated etcd store: clients, watches and leases under partitions and crashes",
         "stale-follower-read",
         "linearizability, revisions and every watch guarantee held over {examples} generated runs "
         "({seconds:.0f}s, seed {seed}); each ended by healing all faults and letting every watch catch up.",
         10.0),
    Part("apiserver", "The API server: the request pipeline, REST and watch semantics over the replicated store",
         "persist-before-validating-webhook",
         "admission order, every persisted object valid, quota, namespace lifecycle, optimistic concurrency, "
         "watch and read consistency, authorization and token revocation held over {examples} generated runs "
         "({seconds:.0f}s, seed {seed}) of 2-3 instances under store leader changes, crashes, partitions and "
         "webhook outages.", 10.0, preamble=_request_path),
)


def _check(part: Part, bug_name: str | None, budget: float) -> CheckResult:
    bug = bug_by_name(bug_name) if bug_name else None
    with ProgressReporter(part.area, budget) as progress:
        return load_area(part.area).check(CheckRequest(bug=bug, budget_seconds=budget, seed=DEMO_SEED,
                                                       report_dir=default_report_dir(part.area, bug, DEMO_SEED),
                                                       progress=progress.update))


def _show_counterexample(console: Console, part: Part, found: CheckResult) -> None:
    invariant = invariant_by_id(found.invariant)
    console.print(Panel(f"[bold red]{invariant.id}[/]\n{invariant.statement}\n\n[italic]{invariant.why}[/]",
                        title="violated", expand=False), soft_wrap=False)  # prose: wrapped inside the panel
    report = Path(found.report)
    scenario = (report / "counterexample.scenario").read_text()
    console.print(f"Found after {found.examples} generated runs in {found.seconds:.1f}s, shrunk to "
                  f"{found.steps} steps:\n")
    console.print(scenario, markup=False, highlight=False)
    console.print(f"Full report (trace, the state at the failure, sequence diagram): [bold]{report / 'report.md'}[/]")
    console.print(f"Replay it:  kinv replay {report / 'counterexample.scenario'} --bug {part.bug}")
    console.print(f"Without --bug the same steps hold on the reference (and the file's `expect` line says so):  "
                  f"kinv replay {report / 'counterexample.scenario'}")


def _run_part(console: Console, number: int, part: Part) -> bool:
    console.rule(f"{number}. {part.title}")
    if part.preamble is not None:
        part.preamble(console)
    held = _check(part, None, part.reference_budget)
    if held.result == "held":
        console.print("[green]held[/]: " + part.held_text.format(examples=held.examples, seconds=held.seconds,
                                                                 seed=DEMO_SEED))
    else:
        console.print(f"[red]violated[/] on the reference: {held.invariant}; see {held.report}")
    console.rule(f"{number + 1}. The same search with the bug [bold]{part.bug}[/]")
    console.print(bug_by_name(part.bug).summary + ".")
    found = _check(part, part.bug, part.bug_budget)
    if found.result != "violated":
        console.print(f"[red]not found[/] within {part.bug_budget:.0f}s; try `kinv check {part.area} "
                      f"--bug {part.bug} --budget 300`")
        return False
    _show_counterexample(console, part, found)
    return held.result == "held"


def _controllers_sequence(console: Console, number: int) -> None:
    """The seed's sequence from a real run of the controller manager, scheduler and kubelets."""
    from checks.controllers.sequence import seed_sequence

    console.rule(f"{number}. The controllers: a Deployment through to running pods")
    diagram, summary = seed_sequence()
    console.print("kubectl creates a Deployment; the controller manager, the scheduler and three kubelets, each "
                  "a client of the API servers, carry it to running pods and report back (paste into any Mermaid "
                  "viewer):\n")
    console.print("```mermaid\n" + diagram + "\n```", markup=False, highlight=False)
    console.print(summary)


def run_demo(console: Console) -> int:
    results = [_run_part(console, 2 * index + 1, part) for index, part in enumerate(PARTS)]
    _controllers_sequence(console, 2 * len(PARTS) + 1)
    return 0 if all(results) else 1
