"""etcd figures: the reference's search rate, whether it holds for seeds 1 to 10, and per
catalog bug the time to its counterexample."""

from __future__ import annotations

from rich.console import Console

from bench.bugs import bug_table
from checks.etcd.search import search
from impl.etcd.parts import EtcdParts

__all__ = ["run"]

REFERENCE_SEEDS = tuple(range(1, 11))
REFERENCE_BUDGET = 60.0


def run(console: Console) -> None:
    console.rule("etcd")
    for seed in REFERENCE_SEEDS:
        outcome = search(EtcdParts(), seed, REFERENCE_BUDGET)
        result = "held" if outcome.violation is None else f"VIOLATED {outcome.violation.invariant.id}"
        console.print(f"reference, seed {seed}: {result}, {outcome.examples} test cases in {outcome.seconds:.0f}s "
                      f"({outcome.examples / max(outcome.seconds, 0.001):.0f}/s)")
    console.print(bug_table(console, "etcd"))
