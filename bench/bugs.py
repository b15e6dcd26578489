"""Time to counterexample per catalog bug: median and worst seconds over seeds, how often the
named invariant was the one found, median shrunk steps and test cases. Shared by every area.

The searches are those of `kinv campaign AREA --bugs all --seeds ...` (checks/campaign.py): each a
`kinv check AREA --bug BUG --seed SEED --jobs 1`, as many at once as the machine has cores, on
Dask's local cluster. A figure is what a user's `kinv check` takes (for Raft that includes its
four-step exploration, which finds the shallow bugs before the random search starts); its report
folders are kept under reports/bench-campaign/.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from rich.console import Console
from rich.table import Table

from checks.campaign import CampaignRow, connect, plan_tasks, run_campaign
from impl.catalog import all_bugs

__all__ = ["bug_table", "SEEDS", "BUDGET_SECONDS", "CAMPAIGN_FOLDER"]

SEEDS = (1, 2, 3, 4, 5)
BUDGET_SECONDS = 60.0
CAMPAIGN_FOLDER = Path("reports") / "bench-campaign"


def bug_table(console: Console, area: str, seeds=SEEDS, budget: float = BUDGET_SECONDS) -> Table:
    """Run every catalog bug of ``area`` on every seed as one campaign, and tabulate it."""
    table = Table("bug", "expected invariant", "found", "median s", "worst s", "median steps", "median examples",
                  "retried", title=f"{area}: time to counterexample of kinv check, seeds {', '.join(map(str, seeds))}, "
                                   f"budget {budget:.0f}s")
    tasks = plan_tasks([area], "all", list(seeds), budget)
    with connect() as client:
        rows = run_campaign(tasks, CAMPAIGN_FOLDER / area, client,
                            on_row=lambda row: console.print(f"  measured {row.bug} seed {row.seed}", style="dim"))
    for bug in all_bugs(area):
        table.add_row(*_figures(bug.name, bug.invariant, [row for row in rows if row.bug == bug.name]))
    return table


def _figures(name: str, invariant: str, rows: list[CampaignRow]) -> tuple[str, ...]:
    seconds = [row.seconds for row in rows]
    steps = [row.steps for row in rows if row.invariant == invariant and row.steps is not None]
    found = sum(row.invariant == invariant for row in rows)
    retried = sum(row.attempts > 1 for row in rows)
    return (name, invariant, f"{found}/{len(rows)}", f"{statistics.median(seconds):.1f}", f"{max(seconds):.1f}",
            f"{statistics.median(steps):.0f}" if steps else "-", f"{statistics.median(row.examples for row in rows):.0f}",
            str(retried) if retried else "-")
