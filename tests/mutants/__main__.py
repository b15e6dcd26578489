"""`make mutate`: run the searches against every mutant of tests/mutants and print the score.

    python -m tests.mutants [AREA|NAME ...] [--budget S] [--seeds 1,2] [--explore-budget S]
                            [--jobs N] [--json]

Each mutant is applied to a copy of impl/, spec/ and checks/ in a temporary folder, and `kinv`
runs there (PYTHONPATH points at the copy): `kinv check AREA --seed N` for each seed, then
`kinv explore AREA` where the area has an explorer, stopping at the first that reports a
violation. A violation kills the mutant only if its shrunk counterexample holds on the reference
(else the search found a bug of the reference: the verdict says so). Budgets are wall-clock
seconds per run; runs of different mutants go in parallel, one per core by default. README.md in
this folder says what a mutant is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs
from rich.console import Console
from rich.table import Column, Table

from tests.mutants.catalog import MUTANTS_DIR, Mutant, load_mutants

ROOT = MUTANTS_DIR.parent.parent
EXPLORABLE = ("raft",)
COPIED = ("impl", "spec", "checks")
RUN_TIMEOUT_SLACK_SECONDS = 300  # shrinking and the report come after the budget


@attrs.frozen
class Verdict:
    mutant: Mutant
    killed_by: str | None  # "check seed 1", "explore", or None
    invariant: str | None
    seconds: float
    error: str | None = None  # the run itself failed: the patch, or the suite crashed on it

    def as_json(self) -> dict:
        return {"mutant": self.mutant.name, "area": self.mutant.area, "killed": self.killed_by is not None,
                "killed_by": self.killed_by, "invariant": self.invariant, "seconds": round(self.seconds, 1),
                "expected": self.mutant.expect, "error": self.error}


def _copy_tree(mutant: Mutant, into: Path) -> str | None:
    for folder in COPIED:
        shutil.copytree(ROOT / folder, into / folder, ignore=shutil.ignore_patterns("__pycache__"))
    applied = subprocess.run(["git", "apply", str(mutant.path)], cwd=into, capture_output=True, text=True)
    return None if applied.returncode == 0 else f"patch does not apply: {applied.stderr.strip()}"


def _kinv(into: Path, *argv: str, budget: float) -> tuple[dict | None, str | None]:
    env = {**os.environ, "PYTHONPATH": str(into), "COLUMNS": "200"}
    try:
        done = subprocess.run([sys.executable, "-m", "checks", *argv, "--json"], cwd=into, env=env,
                              capture_output=True, text=True, timeout=budget + RUN_TIMEOUT_SLACK_SECONDS)
    except subprocess.TimeoutExpired:
        return None, f"`kinv {' '.join(argv)}` did not finish"
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode not in (0, 1) or not rows:
        return None, f"`kinv {' '.join(argv)}` exited {done.returncode}: {done.stderr.strip()[-300:]}"
    return rows[-1], None


def _runs(mutant: Mutant, options: argparse.Namespace) -> list[tuple[str, list[str], float]]:
    # The cores are shared: mutants judged at once times each search's workers (kinv check --jobs).
    workers = max(1, len(os.sched_getaffinity(0)) // max(1, options.jobs))
    runs = [(f"check seed {seed}", ["check", mutant.area, "--budget", str(options.budget), "--seed", str(seed),
                                    "--jobs", str(workers)], options.budget) for seed in options.seeds]
    if mutant.area in EXPLORABLE and options.explore_budget > 0:
        runs.append(("explore", ["explore", mutant.area, "--budget", str(options.explore_budget)],
                     options.explore_budget))
    return runs


def judge(mutant: Mutant, options: argparse.Namespace) -> Verdict:
    seconds = 0.0
    with tempfile.TemporaryDirectory(prefix=f"kinv-mutant-{mutant.name}-") as folder:
        into = Path(folder)
        problem = _copy_tree(mutant, into)
        if problem:
            return Verdict(mutant, None, None, 0.0, problem)
        for label, argv, budget in _runs(mutant, options):
            row, problem = _kinv(into, *argv, "--report", str(into / "report"), budget=budget)
            if problem:
                return Verdict(mutant, None, None, seconds, problem)
            seconds += row["seconds"]
            if row["result"] == "violated":
                return _unless_the_reference_breaks_it(mutant, label, row, seconds)
    return Verdict(mutant, None, None, seconds)


def _unless_the_reference_breaks_it(mutant: Mutant, label: str, row: dict, seconds: float) -> Verdict:
    """A kill counts only if the shrunk counterexample holds on the reference: replayed there
    (its last line expects the violation), a counterexample that breaks the reference too found a
    bug of the reference, not of the mutant."""
    scenario = Path(row.get("report") or "") / "counterexample.scenario"
    if not row.get("report") or not scenario.is_file():
        return Verdict(mutant, label, row["invariant"], seconds)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    try:
        done = subprocess.run([sys.executable, "-m", "checks", "replay", str(scenario)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT_SLACK_SECONDS)
    except subprocess.TimeoutExpired:
        return Verdict(mutant, label, row["invariant"], seconds)
    if done.returncode == 0:  # the reference breaks it as well
        return Verdict(mutant, None, None, seconds, f"its counterexample breaks the reference too ({row['invariant']})")
    return Verdict(mutant, label, row["invariant"], seconds)


def _table(verdicts: list[Verdict]) -> Table:
    table = Table(Column("mutant", no_wrap=True), "area", Column("killed by", no_wrap=True),
                  Column("invariant", no_wrap=True), "seconds", "pattern", title="mutants")  # names are never cut
    for v in verdicts:
        killed = v.killed_by or (f"[yellow]error[/]: {v.error}" if v.error else "[red]survived[/]")
        table.add_row(v.mutant.name, v.mutant.area, killed, v.invariant or "", f"{v.seconds:.1f}", v.mutant.pattern)
    return table


BLIND_PREFIX = "blind-"  # written without reading spec/ or checks/: the fairer test, scored apart


def _score(verdicts: list[Verdict]) -> str:
    killed = sum(1 for v in verdicts if v.killed_by)
    percent = 100.0 * killed / len(verdicts) if verdicts else 0.0
    by_area = ", ".join(f"{area} {sum(1 for v in verdicts if v.mutant.area == area and v.killed_by)}/"
                        f"{sum(1 for v in verdicts if v.mutant.area == area)}"
                        for area in sorted({v.mutant.area for v in verdicts}))
    return f"{killed}/{len(verdicts)} killed ({percent:.0f}%); {by_area}"


def score_line(verdicts: list[Verdict]) -> str:
    """The whole set, then the mutants written with the suite in view and those written blind."""
    counted = [v for v in verdicts if not v.mutant.equivalent]
    blind = [v for v in counted if v.mutant.name.startswith(BLIND_PREFIX)]
    own = [v for v in counted if not v.mutant.name.startswith(BLIND_PREFIX)]
    line = f"mutation score: {_score(counted)}"
    if blind and own:
        line += f" | written with the suite in view: {_score(own)} | written blind: {_score(blind)}"
    return line


def _options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.mutants", description=__doc__.splitlines()[0])
    parser.add_argument("select", nargs="*", metavar="AREA|NAME", help="areas or mutant names (default: all)")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per `kinv check` run (default 60)")
    parser.add_argument("--seeds", default="1,2", help="seeds of the `kinv check` runs (default 1,2)")
    parser.add_argument("--explore-budget", type=float, default=120.0,
                        help="seconds of `kinv explore` where the area has it; 0 skips it (default 120)")
    # One at a time by default: each search then has every core, as `kinv check --budget S` run
    # alone has, so a mutant is judged by the search the acceptance figures speak of (two at once
    # halve each search's workers within the same wall-clock budget).
    parser.add_argument("--jobs", type=int, default=1,
                        help="mutants judged at once, sharing the cores (default 1: each search has them all)")
    parser.add_argument("--json", action="store_true", help="one JSON line per mutant, then the score")
    options = parser.parse_args(argv)
    try:
        options.seeds = [int(seed) for seed in options.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds takes numbers separated by commas, not {options.seeds!r}")
    return options


def main(argv: list[str] | None = None) -> int:
    options = _options(argv)
    console = Console(stderr=True, highlight=False)
    mutants = [m for m in load_mutants() if not options.select or m.area in options.select or m.name in options.select]
    if not mutants:
        console.print(f"no mutant matches {' '.join(options.select)}")
        return 2
    verdicts: list[Verdict] = []
    with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:  # each job is a subprocess
        for verdict in pool.map(lambda mutant: judge(mutant, options), mutants):
            verdicts.append(verdict)
            if options.json:
                print(json.dumps(verdict.as_json()), flush=True)
            else:
                console.print(f"{verdict.mutant.name}: {verdict.killed_by or verdict.error or 'survived'}")
    if options.json:
        print(json.dumps({"score": score_line(verdicts)}))
    else:
        Console(highlight=False, width=max(160, Console().width)).print(_table(verdicts))
        print(score_line(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
