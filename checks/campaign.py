"""`kinv campaign`: many (area, bug, seed) searches as tasks of Dask distributed, on a local
cluster of worker processes (one a core, one thread each) or on a real cluster given its
scheduler's address.

Each task is one `kinv check AREA --bug BUG --seed SEED --budget S --jobs 1` run in a worker:
the same verdict, the same counterexample, byte for byte, as that command gives. The results go to
one folder: ``results.jsonl`` (a JSON line per task, as the tasks finish), the report folder of
every violation under ``reports/``, and ``summary.txt``, the table printed at the end.

A task whose worker dies (killed, out of memory) is run again on another worker: Dask's scheduler
does that by itself, up to its ``allowed-failures`` (3 by default); a task that raises is retried
up to ``RETRIES`` times. The task's line says how many attempts it took; a task that failed every
attempt gets a line with result ``error`` rather than being lost.

A real cluster's workers need kube-invariants installed (the same version), and the output folder's
path writable: a worker writes a report folder there as `kinv check --report` would, then sends its
files back to be written here too (on a local cluster both are the same files).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from checks.area import CheckRequest, InputError, implemented_areas, load_area
from checks.cli import resolve_bug
from impl.catalog import all_bugs, bug_by_name

__all__ = ["CampaignTask", "CampaignRow", "parse_seeds", "plan_tasks", "run_task", "connect", "run_campaign", "summary_table",
           "write_summary", "RESULTS_NAME", "SUMMARY_NAME", "RETRIES"]

RESULTS_NAME = "results.jsonl"
SUMMARY_NAME = "summary.txt"
REPORTS_FOLDER = "reports"
RETRIES = 2  # a task that raises is run this many times more; a killed worker is Dask's allowed-failures
SEEDS_MAX = 100_000  # a bound on one campaign's seeds: a typo such as 1..10000000 is an input error
CONNECT_SECONDS = 5
SUMMARY_WIDTH = 200  # summary.txt is read in an editor: wide enough that no name is cut
REFERENCE = "reference"
_SEEDS = re.compile(r"^(\d+)(?:\.\.(\d+))?$")


@attrs.frozen
class CampaignTask:
    area: str
    bug: str | None  # None: the reference
    seed: int
    budget_seconds: float

    @property
    def name(self) -> str:
        return f"{self.area}-{self.bug or REFERENCE}-{self.seed}"


@attrs.frozen
class CampaignRow:
    """One task's line of results.jsonl."""

    area: str
    bug: str | None
    seed: int
    result: str  # "held" | "violated" | "error" (every attempt failed)
    invariant: str | None
    seconds: float
    examples: int
    steps: int | None
    report: str | None
    attempts: int
    error: str | None = None

    def as_json(self) -> dict:
        return attrs.asdict(self)


def parse_seeds(text: str) -> list[int]:
    """``A..B`` (both included), ``N``, or several of them separated by commas."""
    seeds: list[int] = []
    for part in text.split(","):
        found = _SEEDS.match(part.strip())
        if found is None:
            raise InputError(f"--seeds wants A..B, N, or a comma-separated list of them, not {text!r}")
        first = int(found[1])
        last = int(found[2]) if found[2] is not None else first
        if last < first:
            raise InputError(f"--seeds {part.strip()}: the range ends before it starts")
        if last - first + 1 + len(seeds) > SEEDS_MAX:
            raise InputError(f"--seeds {text}: more than {SEEDS_MAX:,} seeds")
        seeds.extend(range(first, last + 1))
    return list(dict.fromkeys(seeds))


def _bugs_of(area: str, names: list[str] | None) -> list[str | None]:
    if names is None:
        return [None]
    if names == ["all"]:
        return [bug.name for bug in all_bugs(area)]
    return [None if name == REFERENCE else name for name in names
            if name == REFERENCE or bug_by_name(name).area == area]


def plan_tasks(areas: list[str], bugs: str | None, seeds: list[int], budget_seconds: float) -> list[CampaignTask]:
    """Every (area, bug, seed): ``bugs`` is None (the reference), ``all`` (every catalog bug of
    the areas) or names separated by commas (``reference`` among them checks the reference)."""
    names = None if bugs is None else list(dict.fromkeys(name.strip() for name in bugs.split(",") if name.strip()))
    if names == []:
        raise InputError("--bugs wants all, or bug names separated by commas")
    for name in names or ():
        if name not in ("all", REFERENCE):
            resolve_bug(name, areas)  # an unknown bug, or one of another area: an input error
    if names is not None and "all" in names and len(names) > 1:
        raise InputError("--bugs takes all, or names separated by commas, not both")
    if not areas:
        named = {bug_by_name(name).area for name in names or () if name not in ("all", REFERENCE)}
        areas = [area for area in implemented_areas() if not named or area in named]
    for area in areas:
        load_area(area)  # an unknown area is an input error before anything runs
    return [CampaignTask(area, bug, seed, budget_seconds)
            for area in areas for bug in _bugs_of(area, names) for seed in seeds]


def run_task(task: CampaignTask, report_dir: str) -> dict:
    """One search, in a Dask worker: `kinv check` with ``--jobs 1`` (a worker is one core). Returns
    the result as JSON and, for a violation, the report folder's files."""
    from checks.parallel import use_jobs

    bug = bug_by_name(task.bug) if task.bug is not None else None
    with use_jobs(1):
        result = load_area(task.area).check(CheckRequest(bug, task.budget_seconds, task.seed, Path(report_dir)))
    files = {}
    if result.report is not None:
        folder = Path(result.report)
        files = {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}
    return {"result": result.as_json(), "files": files}


def _row(task: CampaignTask, answer: dict, attempts: int) -> CampaignRow:
    result = answer["result"]
    return CampaignRow(task.area, task.bug, task.seed, result["result"], result["invariant"], result["seconds"],
                       result["examples"], result["steps"], result["report"], attempts)


def _failed_row(task: CampaignTask, error: BaseException, attempts: int) -> CampaignRow:
    message = " ".join(f"{type(error).__name__}: {error}".split())
    return CampaignRow(task.area, task.bug, task.seed, "error", None, 0.0, 0, None, None, attempts, message)


@contextlib.contextmanager
def connect(address: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A Dask client: of the scheduler at ``address``, or of a local cluster of ``workers``
    processes (default: one a core) with one thread each, closed on leaving."""
    from distributed import Client, LocalCluster

    from checks.parallel import default_jobs

    if address is not None:
        try:
            client = Client(address, timeout=f"{CONNECT_SECONDS}s")
        except (OSError, TimeoutError, ValueError) as error:
            raise InputError(f"cannot reach the Dask scheduler at {address!r}: {' '.join(str(error).split())}") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers or default_jobs(), threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def _attempts(client, keys: list[str]) -> dict[str, int]:
    """How many times the scheduler started each task: once, plus once for each worker that died
    running it (``suspicious``), plus each retry after an error."""
    def count(dask_scheduler, keys=keys, retries=RETRIES) -> dict[str, int]:
        tasks = {key: dask_scheduler.tasks.get(key) for key in keys}
        return {key: 1 + ts.suspicious + (retries - ts.retries) for key, ts in tasks.items() if ts is not None}
    return client.run_on_scheduler(count)


def _finished(client: Any, future: Any, task: CampaignTask) -> CampaignRow:
    """The row of a task that finished, or that failed every attempt; its report folder written."""
    attempts = _attempts(client, [future.key]).get(future.key, 1)
    if future.status != "finished":
        return _failed_row(task, future.exception(), attempts)
    answer = future.result()
    row = _row(task, answer, attempts)
    if row.report is not None:
        _write_report(answer["files"], row.report)
    return row


def _write_report(files: dict[str, bytes], report: str) -> None:
    folder = Path(report)
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if not path.exists() or path.read_bytes() != content:  # on a local cluster the worker wrote them already
            path.write_bytes(content)


def run_campaign(tasks: list[CampaignTask], out: Path, client: Any,
                 search: Callable[[CampaignTask, str], dict] = run_task,
                 on_row: Callable[[CampaignRow], None] | None = None) -> list[CampaignRow]:
    """Run every task on the cluster of ``client`` (see ``connect``); write results.jsonl as they
    finish and each violation's report folder under ``out``. Returns the rows in the order of
    ``tasks``. ``search`` is what a task runs (a test gives one that kills its own worker)."""
    from distributed import as_completed

    out.mkdir(parents=True, exist_ok=True)
    reports = out.resolve() / REPORTS_FOLDER
    rows: dict[str, CampaignRow] = {}
    futures = {client.submit(search, task, str(reports / task.name), key=f"kinv-campaign-{task.name}",
                             retries=RETRIES, pure=False): task for task in tasks}
    with (out / RESULTS_NAME).open("w") as results:
        for future in as_completed(futures):
            task = futures[future]
            row = _finished(client, future, task)
            future.release()
            rows[task.name] = row
            results.write(json.dumps(row.as_json()) + "\n")
            results.flush()
            if on_row is not None:
                on_row(row)
    return [rows[task.name] for task in tasks]


def summary_table(rows: list[CampaignRow]) -> Table:
    table = Table("area", "bug", "seed", "result", "invariant", "seconds", "examples", "steps", "attempts",
                  title=f"kinv campaign: {len(rows)} searches")
    for row in rows:
        result = {"held": "[green]held[/]", "violated": "[red]found[/]"}.get(row.result, "[yellow]error[/]")
        attempts = f"{row.attempts} (retried)" if row.attempts > 1 else str(row.attempts)
        table.add_row(row.area, row.bug or REFERENCE, str(row.seed), result, row.invariant or row.error or "-",
                      f"{row.seconds:.1f}", str(row.examples), "-" if row.steps is None else str(row.steps), attempts)
    return table


def write_summary(rows: list[CampaignRow], out: Path, console: Console) -> None:
    """Print the summary table and keep a plain copy in the folder."""
    table = summary_table(rows)
    # As wide as the table wants, whatever the terminal: a bug's name is never cut.
    width = console.width
    console.width = max(width, Measurement.get(console, console.options.update(width=SUMMARY_WIDTH), table).maximum)
    console.print(table)
    console.width = width
    recorder = Console(record=True, width=SUMMARY_WIDTH, file=io.StringIO())
    recorder.print(table)
    (out / SUMMARY_NAME).write_text(recorder.export_text())
