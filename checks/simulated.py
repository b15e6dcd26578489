"""What the areas that run on the simulated world (etcd, apiserver) share when they answer
`kinv check` and `kinv replay`: the search or replay itself, the result of a run (with its report
when an invariant broke) and the text of a counterexample's scenario file. An area gives its
search, its scenario loader and runner, how to draw its state at a failure, and its legend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from checks.area import CheckRequest, CheckResult, default_report_dir
from checks.report import Counterexample, numbered_trace, write_report
from checks.violation import InvariantViolated
from impl.catalog import Bug

__all__ = ["SimulatedArea", "counterexample_text"]


def counterexample_text(area: str, violation: InvariantViolated, bug: Bug | None, lines: list[str]) -> str:
    """The scenario file of a counterexample: what broke, how to replay it, the steps, the expectation."""
    header = [f"# {violation.invariant.id}: {violation.message}",
              "# replay: kinv replay counterexample.scenario" + (f" --bug {bug.name}" if bug else ""),
              f"area {area}"]
    return "\n".join(header + list(lines) + [f"expect violated {violation.invariant.id}"]) + "\n"


@attrs.frozen
class SimulatedArea:
    name: str
    search: Callable[..., Any]  # (parts, seed, budget_seconds, progress) -> checks.search.SearchOutcome
    load: Callable[[str, str], Any]  # (text, filename) -> the area's scenario
    run: Callable[..., Any]  # (scenario, parts) -> an outcome with violation, cluster, expectation_failure
    reference_parts: Callable[[], Any]  # the parts of the reference (a bug's override replaces them)
    state_lines: Callable[[Any], tuple[str, ...]]  # the state of a cluster at a failure, a line per node
    legend: tuple[str, ...] = ()
    diagram_hides: tuple[str, ...] = ()

    def parts(self, bug: Bug | None) -> Any:
        return bug.override if bug is not None else self.reference_parts()

    def counterexample_of(self, cluster: Any, violation: InvariantViolated, bug: Bug | None,
                          seed: int | None) -> Counterexample:
        text = counterexample_text(self.name, violation, bug, cluster.lines)
        return Counterexample(self.name, bug, violation.invariant, violation.message, tuple(cluster.lines[1:]), text,
                              tuple(cluster.world.trace.events), self.state_lines(cluster), cluster.ids, seed,
                              violation.details, self.legend, self.diagram_hides)

    def check(self, request: CheckRequest) -> CheckResult:
        outcome = self.search(self.parts(request.bug), request.seed, request.budget_seconds, request.progress)
        folder = request.report_dir or default_report_dir(self.name, request.bug, request.seed)
        return self.result(request.bug, outcome.violation, outcome.cluster, outcome.examples, None,
                           round(outcome.seconds, 1), request.seed, folder)

    def replay(self, text: str, filename: str, bug: Bug | None, report_dir: Path | None) -> CheckResult:
        outcome = self.run(self.load(text, filename), self.parts(bug))
        folder = report_dir or default_report_dir(self.name, bug, None)
        return self.result(bug, outcome.violation, outcome.cluster, 1, len(outcome.cluster.lines) - 1, 0.0, None,
                           folder, outcome.expectation_failure)

    def result(self, bug: Bug | None, violation: InvariantViolated | None, cluster: Any, examples: int,
               steps: int | None, seconds: float, seed: int | None, folder: Path | None,
               note: str | None = None) -> CheckResult:
        """The CheckResult of a search or a replay; writes the report folder when an invariant broke."""
        bug_name = bug.name if bug else None
        replayed = {} if cluster is None else {"messages": cluster.world.counts.as_json(),
                                               "trace": tuple(numbered_trace(tuple(cluster.world.trace.events)))}
        if violation is None:
            return CheckResult(self.name, bug_name, "held", None, examples, steps, seconds, seed, None, note=note,
                               **replayed)
        write_report(self.counterexample_of(cluster, violation, bug, seed), folder)
        return CheckResult(self.name, bug_name, "violated", violation.invariant.id, examples, len(cluster.lines) - 1,
                           seconds, seed, str(folder), note=note, **replayed)
