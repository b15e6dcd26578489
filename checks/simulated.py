"""What the areas that run on the simulated world share when they answer `kinv check` and
`kinv replay`: the result of a run (with its report when an invariant broke) and the text of a
counterexample's scenario file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from checks.area import CheckResult
from checks.report import Counterexample, numbered_trace, write_report
from checks.violation import InvariantViolated
from impl.catalog import Bug

__all__ = ["run_result", "counterexample_text"]


def counterexample_text(area: str, violation: InvariantViolated, bug: Bug | None, lines: list[str]) -> str:
    """The scenario file of a counterexample: what broke, how to replay it, the steps, the expectation."""
    header = [f"# {violation.invariant.id}: {violation.message}",
              "# replay: kinv replay counterexample.scenario" + (f" --bug {bug.name}" if bug else ""),
              f"area {area}"]
    return "\n".join(header + list(lines) + [f"expect violated {violation.invariant.id}"]) + "\n"


def run_result(area: str, bug: Bug | None, violation: InvariantViolated | None, cluster: Any, examples: int,
               steps: int | None, seconds: float, seed: int | None, folder: Path | None,
               counterexample_of: Callable[[Any, InvariantViolated, Bug | None, int | None], Counterexample],
               note: str | None = None) -> CheckResult:
    """The CheckResult of a search or a replay; writes the report folder when an invariant broke."""
    bug_name = bug.name if bug else None
    replayed = {} if cluster is None else {"messages": cluster.world.counts.as_json(),
                                           "trace": tuple(numbered_trace(tuple(cluster.world.trace.events)))}
    if violation is None:
        return CheckResult(area, bug_name, "held", None, examples, steps, seconds, seed, None, note=note, **replayed)
    write_report(counterexample_of(cluster, violation, bug, seed), folder)
    return CheckResult(area, bug_name, "violated", violation.invariant.id, examples, len(cluster.lines) - 1,
                       seconds, seed, str(folder), note=note, **replayed)
