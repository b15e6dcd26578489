"""The ``kinv`` command line (DESIGN.md, "The command line"): a stable interface.

Exit codes: 0 everything held (or allowed), 1 a violation was found (or denied), 2 usage or
input error. Every input error is one line on stderr.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import re
import sys
import textwrap
from pathlib import Path

import attrs
from rich.console import Console

from checks.area import AREA_NAMES, CheckRequest, CheckResult, InputError, implemented_areas, load_area
from impl.catalog import UnknownBug, all_bugs, bug_by_name
from spec.invariant import all_invariants

__all__ = ["main", "resolve_bug"]

EXIT_HELD, EXIT_VIOLATED, EXIT_INPUT, EXIT_UNDECIDED = 0, 1, 2, 3
DEFAULT_BUDGET_SECONDS = 30.0
DEFAULT_EXPLORE_SECONDS = 120.0
DEFAULT_DEPTH = 30  # levels of `kinv explore`; the budget usually ends it first
DEFAULT_SEED = 0
# A replay that stopped at a state assertion (`expect applied n3 202`) that did not hold: not
# "held" (the run did not finish) and not "violated" (no invariant broke, there is no report).
ASSERTION_FAILED = "assertion-failed"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(f"{self.prog}: {message}")


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps help text only at spaces: a path, flag or name with a hyphen stays whole."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False, break_long_words=False)


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
    return value


def _positive_int(text: str) -> int:
    value = _nonnegative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kinv", description="Check, replay and explain control-plane invariants.",
                     formatter_class=_HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True,
                                     parser_class=functools.partial(_Parser, formatter_class=_HelpFormatter))

    check = commands.add_parser("check", help="search for a violation in one or more areas")
    check.add_argument("areas", nargs="*", metavar="AREA",
                       help=f"one of {', '.join(implemented_areas())}, each checked once in that order; none: all of "
                            "them (or the bug's area, with --bug)")
    check.add_argument("--bug", metavar="NAME", help="inject a catalog bug (`kinv bugs` lists them; default: none, "
                                                     "check the reference)")
    check.add_argument("--budget", type=_positive_float, default=DEFAULT_BUDGET_SECONDS, metavar="SECONDS",
                       help=f"wall-clock seconds of search for each area (default {DEFAULT_BUDGET_SECONDS:g}); the "
                            "seed, not the clock, decides what each test case does")
    check.add_argument("--seed", type=_nonnegative_int, default=DEFAULT_SEED, metavar="N",
                       help=f"names the sequence of test cases: the same seed finds the same counterexample "
                            f"(default {DEFAULT_SEED})")
    check.add_argument("--report", type=Path, metavar="DIR",
                       help="where a counterexample's report.md and counterexample.scenario go (default "
                            "reports/AREA-BUG-SEED)")
    check.add_argument("--json", action="store_true", help="one JSON object per area and line, instead of text")
    check.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                       help="worker processes that run the search's seeded chunks (default: the cores this machine "
                            "gives kinv); the answer is the same for any N: the lowest-numbered failing chunk")
    check.add_argument("--controller", metavar="MODULE:CLASS", default="",
                       help="controllers only: check your own reconciler (impl/controllers/api.py is its interface; "
                            "e.g. examples.settings_copier:SettingsCopier), run beside kube's controllers")
    check.add_argument("-f", "--filename", type=Path, metavar="PATH",
                       help="controllers only, with --controller: the objects your controller works on (a YAML file "
                            "or a folder of them), applied at the start of every test case and touched by it")
    check.set_defaults(func=_cmd_check)

    _add_campaign(commands)

    explore = commands.add_parser("explore", help="explore every run of an area up to a depth, breadth first")
    explore.add_argument("area", metavar="AREA", help="an area with an explorer: raft")
    explore.add_argument("--bug", metavar="NAME", help="inject a catalog bug (see `kinv bugs`)")
    explore.add_argument("--depth", type=_positive_int, default=DEFAULT_DEPTH, metavar="N",
                         help=f"the most moves in a run (default {DEFAULT_DEPTH}; the budget usually ends it first)")
    explore.add_argument("--budget", type=_positive_float, default=DEFAULT_EXPLORE_SECONDS, metavar="SECONDS",
                         help=f"wall-clock seconds, shared by the configurations (default {DEFAULT_EXPLORE_SECONDS:g})")
    explore.add_argument("--report", type=Path, metavar="DIR",
                         help="where a counterexample's report goes (default reports/AREA-BUG)")
    explore.add_argument("--json", action="store_true", help="one JSON object, with each configuration's figures")
    explore.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                         help="worker processes that share the configurations, each exploring its own level by "
                              "level (default: the cores this machine gives kinv, at most one a configuration); the "
                              "answer is the same for any N: the shortest violation, of the first configuration "
                              "among equals")
    explore.set_defaults(func=_cmd_explore)

    replay = commands.add_parser("replay", help="run a scenario file")
    replay.add_argument("file", type=Path, metavar="FILE")
    replay.add_argument("--bug", metavar="NAME")
    replay.add_argument("--report", type=Path, metavar="DIR")
    replay.add_argument("--trace", nargs="?", const="-", metavar="FILE",
                        help="print the numbered trace of the run (or write it to FILE), whether it held or not")
    replay.add_argument("--json", action="store_true")
    replay.set_defaults(func=_cmd_replay)

    bugs = commands.add_parser("bugs", help="list the bug catalog")
    bugs.add_argument("--area", choices=AREA_NAMES)
    bugs.add_argument("--json", action="store_true")
    bugs.set_defaults(func=_cmd_bugs)

    invariants = commands.add_parser("invariants", help="list the invariants")
    invariants.add_argument("--area", choices=AREA_NAMES)
    invariants.add_argument("--json", action="store_true")
    invariants.set_defaults(func=_cmd_invariants)

    demo = commands.add_parser("demo", help="check raft on the reference, then show a bug's counterexample")
    demo.set_defaults(func=_cmd_demo)

    for module_name in ("checks.rbac.cli", "checks.kv.cli"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as missing:
            if missing.name is None or not module_name.startswith(missing.name):
                raise
            continue
        module.add_subcommands(commands)
    return parser


def _add_campaign(commands) -> None:
    campaign = commands.add_parser("campaign", help="many (area, bug, seed) searches on a Dask cluster, results in one "
                                                    "folder")
    campaign.add_argument("areas", nargs="*", metavar="AREA",
                          help=f"one of {', '.join(implemented_areas())}; none: all of them (or the areas of the bugs "
                               "named)")
    campaign.add_argument("--bugs", metavar="all|NAMES",
                          help="all: every catalog bug of the areas; or bug names separated by commas, `reference` "
                               "among them for the reference (default: the reference alone)")
    campaign.add_argument("--seeds", default="1", metavar="A..B",
                          help="the seeds of each search: A..B (both included), N, or a comma-separated list of them "
                               "(default 1)")
    campaign.add_argument("--budget", type=_positive_float, default=DEFAULT_BUDGET_SECONDS, metavar="SECONDS",
                          help=f"wall-clock seconds of each search (default {DEFAULT_BUDGET_SECONDS:g}); each is `kinv "
                               "check AREA --bug BUG --seed SEED --jobs 1` on one worker")
    campaign.add_argument("--cluster", metavar="ADDRESS",
                          help="a Dask scheduler's address (tcp://HOST:8786), whose workers have kube-invariants "
                               "installed; default: a local cluster, one worker process a core")
    campaign.add_argument("--out", type=Path, default=Path("reports") / "campaign", metavar="DIR",
                          help="where results.jsonl (a JSON line per search), summary.txt and the reports/ of every "
                               "violation go (default reports/campaign/)")
    campaign.set_defaults(func=_cmd_campaign)


def _cmd_campaign(args: argparse.Namespace, console: Console) -> int:
    from checks.campaign import connect, parse_seeds, plan_tasks, run_campaign, write_summary

    tasks = plan_tasks(list(dict.fromkeys(args.areas)), args.bugs, parse_seeds(args.seeds), args.budget)

    def finished(row) -> None:
        retried = f", {row.attempts} attempts" if row.attempts > 1 else ""
        print(f"kinv: campaign: {row.area} {row.bug or 'reference'} seed {row.seed}: {row.result}{retried}",
              file=sys.stderr, flush=True)
    with connect(args.cluster) as client:
        print(f"kinv: campaign: {len(tasks)} search{'' if len(tasks) == 1 else 'es'} of {args.budget:g}s each",
              file=sys.stderr, flush=True)
        rows = run_campaign(tasks, args.out, client, on_row=finished)
    write_summary(rows, args.out, console)
    if any(row.result == "error" for row in rows):
        return EXIT_UNDECIDED
    return EXIT_VIOLATED if any(row.result == "violated" for row in rows) else EXIT_HELD


def resolve_bug(name: str | None, areas: list[str]):
    if name is None:
        return None
    try:
        bug = bug_by_name(name)
    except UnknownBug:
        raise InputError(f"unknown bug {name!r}; `kinv bugs` lists them") from None
    if areas and bug.area not in areas:
        raise InputError(f"bug {name!r} belongs to area {bug.area!r}, not {', '.join(areas)}")
    return bug


def _print_result(result: CheckResult, as_json: bool, console: Console, replayed: bool = False,
                  assertion_at: str | None = None) -> None:
    """One line per area (JSON, or text). A replay's JSON also has ``assertion``: the state
    assertion it stopped at, as `FILE:LINE: expect ...: what the state was`, or null."""
    if as_json:
        failed = result.note if result.result == ASSERTION_FAILED else None
        row = result.as_json() | ({"assertion": failed} if replayed else {})
        print(json.dumps(row), flush=True)
        return
    subject = result.bug or "reference"
    if replayed:
        how = f"replayed {result.steps} steps"
    elif result.result == "held":
        how = f"{result.examples} examples, {result.seconds:.1f}s, seed {result.seed}"
    else:
        how = (f"after {result.examples} examples, shrunk to {result.steps} steps, {result.seconds:.1f}s, "
               f"seed {result.seed}")
    if result.result == "held":
        console.print(f"[green]held[/]  {result.area} ({subject}): {how}")
    elif result.result == ASSERTION_FAILED:
        console.print(f"[red]assertion failed[/]  {result.area} ({subject}): at {assertion_at}, {how} before it")
    else:
        console.print(f"[red]violated[/]  {result.area} ({subject}): [bold]{result.invariant}[/], {how}")
        if result.report:
            console.print(f"  report: {result.report}/report.md")
            console.print(f"  replay: kinv replay {result.report}/counterexample.scenario"
                          + (f" --bug {result.bug}" if result.bug else ""))


def _cmd_check(args: argparse.Namespace, console: Console) -> int:
    from checks.parallel import default_jobs, use_jobs
    from checks.progress import ProgressReporter  # imported here: `kinv rbac` answers faster without it

    jobs = args.jobs if args.jobs is not None else default_jobs()
    areas = list(dict.fromkeys(args.areas)) or ([] if args.bug else implemented_areas())  # each area once
    bug = resolve_bug(args.bug, areas)
    if not areas:
        areas = [bug.area]
    runners = [load_area(name) for name in areas]  # validate every name before running any
    controller, manifests = _user_controller(args, areas)
    worst = EXIT_HELD
    for runner in runners:
        area_bug = bug if bug is not None and bug.area == runner.name else None
        with ProgressReporter(runner.name, args.budget, enabled=True) as progress, use_jobs(jobs, progress.workers):
            request = CheckRequest(bug=area_bug, budget_seconds=args.budget, seed=args.seed,
                                   report_dir=args.report, progress=progress.update, controller=controller,
                                   manifests=manifests)
            result = runner.check(request)
        _print_result(result, args.json, console)
        if result.result == "violated":
            worst = EXIT_VIOLATED
    return worst


def _user_controller(args: argparse.Namespace, areas: list[str]) -> tuple[str, tuple[dict, ...]]:
    """--controller and -f: checked before any search runs (a one-line error, exit 2)."""
    if not args.controller and args.filename is None:
        return "", ()
    if areas != ["controllers"]:
        raise InputError("--controller and -f check your own controller: use them with the area controllers alone")
    if args.filename is not None and not args.controller:
        raise InputError("-f gives the objects of your controller: use it with --controller MODULE:CLASS")
    from checks.controllers.user import load_controller, read_manifests

    load_controller(args.controller)
    return args.controller, read_manifests(args.filename) if args.filename is not None else ()


def _cmd_explore(args: argparse.Namespace, console: Console) -> int:
    from checks.explore import ExploreRequest
    from checks.parallel import default_jobs

    jobs = args.jobs if args.jobs is not None else default_jobs()
    bug = resolve_bug(args.bug, [args.area])
    runner = load_area(args.area)
    if not hasattr(runner, "explore"):
        explorable = [name for name in implemented_areas() if hasattr(load_area(name), "explore")]
        raise InputError(f"area {args.area!r} has no explorer yet; `kinv explore` works for {', '.join(explorable)}")

    def progress(line: str) -> None:
        print(f"kinv: exploring {args.area}: {line}", file=sys.stderr, flush=True)
    result = runner.explore(ExploreRequest(bug, args.depth, args.budget, args.report, progress, jobs))
    if args.json:
        print(json.dumps(result.as_json()), flush=True)
    else:
        _print_explored(result, console)
    return EXIT_VIOLATED if result.result == "violated" else EXIT_HELD


def _print_explored(result, console: Console) -> None:
    subject = result.bug or "reference"
    figures = result.as_json()
    rate = f"{figures['states']} states ({figures['states_per_second']:g}/s), {result.seconds:.1f}s"
    if result.result == "violated":
        console.print(f"[red]violated[/]  {result.area} ({subject}): [bold]{result.invariant}[/], a shortest "
                      f"counterexample of {result.steps} steps; {rate}", soft_wrap=True)
        console.print(f"  report: {result.report}/report.md", soft_wrap=True)
        console.print(f"  replay: kinv replay {result.report}/counterexample.scenario"
                      + (f" --bug {result.bug}" if result.bug else ""), soft_wrap=True)
    else:
        console.print(f"[green]held[/]  {result.area} ({subject}): {rate}", soft_wrap=True)
    for profile in result.profiles:
        whole = "every state within the bounds" if profile.exhausted else f"depth {profile.depth} complete"
        console.print(f"  {profile.cluster}: {whole}, {profile.states} states, {profile.seconds:.1f}s",
                      soft_wrap=True)


def _cmd_replay(args: argparse.Namespace, console: Console) -> int:
    from checks.scenario import area_of_scenario

    try:
        text = args.file.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{args.file}: cannot read: {error}") from None
    area_name = area_of_scenario(text, str(args.file))
    bug = resolve_bug(args.bug, [area_name])
    result = load_area(area_name).replay(text, str(args.file), bug, args.report)
    assertion_at = _failed_assertion_line(result.note, str(args.file))
    if assertion_at is not None:
        result = attrs.evolve(result, result=ASSERTION_FAILED)
    _print_result(result, args.json, console, replayed=True, assertion_at=assertion_at)
    if args.trace is not None:
        _write_trace(result.trace, args.trace)
    if result.note:  # a failed `expect` line: notes of state assertions already name file and line
        where = "" if assertion_at is not None else f"{args.file}: "
        print(f"kinv: {where}{result.note}", file=sys.stderr)
        return EXIT_VIOLATED
    return EXIT_VIOLATED if result.result == "violated" else EXIT_HELD


def _failed_assertion_line(note: str | None, filename: str) -> str | None:
    """`FILE:LINE` when the note is a failed state assertion (`FILE:LINE: expect ...: ...`: the run
    stopped there), else None. An unmet `expect held|violated` is a note too, but then the run
    finished and its result already says what happened."""
    found = re.match(rf"({re.escape(filename)}:\d+): ", note or "")
    return found[1] if found else None


def _write_trace(lines: tuple[str, ...], destination: str) -> None:
    text = "\n".join(lines) + "\n"
    if destination == "-":
        sys.stdout.write(text)
        return
    try:
        Path(destination).write_text(text)
    except OSError as error:
        raise InputError(f"{destination}: cannot write the trace: {error}") from None


def _cmd_bugs(args: argparse.Namespace, console: Console) -> int:
    bugs = all_bugs(args.area)
    if args.json:
        for bug in bugs:
            print(json.dumps({"name": bug.name, "area": bug.area, "invariant": bug.invariant,
                              "summary": bug.summary, "source": bug.source}))
        return EXIT_HELD
    for bug in bugs:  # blocks, not a table: a name must never be cut, whatever the width
        console.print(f"[bold]{bug.name}[/]  ({bug.area}, breaks {bug.invariant})\n    {bug.summary}\n"
                      f"    seen in: {bug.source}")
    return EXIT_HELD


def _cmd_invariants(args: argparse.Namespace, console: Console) -> int:
    invariants = all_invariants(args.area)
    if args.json:
        for inv in invariants:
            print(json.dumps({"id": inv.id, "area": inv.area, "statement": inv.statement, "source": inv.source}))
        return EXIT_HELD
    for inv in invariants:
        console.print(f"[bold]{inv.id}[/]  ({inv.area})\n    {inv.statement}\n    source: {inv.source}")
    return EXIT_HELD


def _cmd_demo(args: argparse.Namespace, console: Console) -> int:
    from checks.demo import run_demo

    return run_demo(console)


def main(argv: list[str] | None = None) -> int:
    console = Console(highlight=False, soft_wrap=True)  # never hard-wrapped: names and commands stay whole
    try:
        args = _build_parser().parse_args(argv)
        return args.func(args, console)
    except InputError as error:
        message = str(error)
        print(message if message.startswith("kinv") else f"kinv: {message}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:  # `kinv bugs --json | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return EXIT_HELD
    except KeyboardInterrupt:
        print("kinv: interrupted", file=sys.stderr)
        return 130
