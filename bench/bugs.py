"""Time to counterexample per catalog bug: median and worst seconds over seeds, how often the
named invariant was the one found, median shrunk steps and test cases. Shared by every area."""

from __future__ import annotations

import statistics
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from impl.catalog import all_bugs

__all__ = ["bug_table", "SEEDS", "BUDGET_SECONDS"]

SEEDS = (1, 2, 3, 4, 5)
BUDGET_SECONDS = 60.0


def bug_table(console: Console, area: str, search: Callable, seeds=SEEDS,
              budget: float = BUDGET_SECONDS) -> Table:
    """``search(override, seed, budget)`` returns an outcome with examples, seconds, violation
    and the shrunk run's ``cluster.lines``."""
    table = Table("bug", "expected invariant", "found", "median s", "worst s", "median steps", "median examples",
                  title=f"{area}: time to counterexample, seeds {', '.join(map(str, seeds))}, budget {budget:.0f}s")
    for bug in all_bugs(area):
        seconds, steps, examples, found = [], [], [], 0
        for seed in seeds:
            outcome = search(bug.override, seed, budget)
            seconds.append(outcome.seconds)
            examples.append(outcome.examples)
            if outcome.violation is not None and outcome.violation.invariant.id == bug.invariant:
                found += 1
                steps.append(len(outcome.cluster.lines) - 1)
        table.add_row(bug.name, bug.invariant, f"{found}/{len(seeds)}", f"{statistics.median(seconds):.1f}",
                      f"{max(seconds):.1f}", f"{statistics.median(steps):.0f}" if steps else "-",
                      f"{statistics.median(examples):.0f}")
        console.print(f"  measured {bug.name}", style="dim")
    return table
