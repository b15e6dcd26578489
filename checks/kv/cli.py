"""``kinv lincheck FILE ... [--model register|cas-register|kv|kv-append] [--json]``.

Checks histories recorded anywhere (ours, or a real etcd's under Jepsen) for linearizability
against a sequential model from ``spec.kv.model``, each file on its own, all in one process (a
Jepsen store holds hundreds). For each file it prints ``linearizable``, the shortest
non-linearizable window with its operations, or ``unknown``: the search ran past its bound
before an answer (nothing was found, nothing proved). With several files each answer starts
with the file's name.

``--json`` prints one object per file and line: file, model, result (``linearizable``, ``not
linearizable``, ``unknown``, or ``error`` with ``error`` the message), operations (the calls
checked: :fail operations and reads of unknown outcome excluded), configurations, key (keyed
models) and window (its calls, values written as EDN).

Exit code: 0 every file linearizable; 1 some file not linearizable; 3 some file undecided and
none failing; 2 some file could not be read or parsed (one line on stderr, ``file:line:
message``; the other files are still checked and answered).
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from checks.area import InputError
from checks.lincheck import NOT_LINEARIZABLE, UNKNOWN, Call, HistoryError, Outcome, check_history, read_history
from checks.lincheck.history import NEVER
from checks.lincheck.edn import dumps
from spec.kv.model import MODELS, Model, model_by_name

__all__ = ["add_subcommands", "window_rows"]

EXIT_LINEARIZABLE, EXIT_NOT_LINEARIZABLE, EXIT_INPUT, EXIT_UNDECIDED = 0, 1, 2, 3
DEFAULT_MODEL = "register"
ERROR = "error"  # the --json result of a file that could not be read


def add_subcommands(commands) -> None:
    lincheck = commands.add_parser("lincheck", help="check Jepsen histories for linearizability")
    lincheck.add_argument("files", nargs="+", metavar="FILE",
                          help="Jepsen EDN operation maps or jepsen.util log lines; several files are checked one by one")
    lincheck.add_argument("--model", choices=sorted(MODELS), default=DEFAULT_MODEL,
                          help="the sequential model (default: register); kv and kv-append take a key per operation "
                               "(a :key field or Jepsen independent [key value] values) and check each key alone; "
                               "kv-append is :get, :put and :append on strings")
    lincheck.add_argument("--json", action="store_true", help="one JSON object per file and line")
    lincheck.set_defaults(func=_cmd_lincheck)


def _outcome_at(call: Call, cut_time: float) -> str:
    if call.outcome == "info" or call.completed == NEVER:
        return "info (unknown)"
    return "ok" if call.completed <= cut_time else "pending at the cut"


def window_rows(outcome: Outcome) -> list[dict]:
    """The window's operations as plain objects (the --json form and the table's rows)."""
    window = outcome.window
    if window is None:
        return []
    rows = []
    for role, calls in (("open before", window.open_before), ("window", window.calls)):
        for call in calls:
            rows.append({"role": role, "process": call.process, "f": call.f, "key": None if call.key is None else dumps(call.key),
                         "value": dumps(call.value), "outcome": _outcome_at(call, window.cut_time),
                         "invoked": call.invoked,
                         "completed": None if call.completed == NEVER else call.completed, "line": call.line})
    return rows


def _json(path: str, model: Model, outcome: Outcome) -> str:
    return json.dumps({"file": path, "model": model.name, "result": outcome.result,
                       "operations": outcome.calls, "configurations": outcome.verdict.configurations,
                       "key": dumps(outcome.verdict.key) if outcome.verdict.key is not None else None,
                       "window": window_rows(outcome) if outcome.window else None})


def _print_window(outcome: Outcome, console: Console, prefix: str) -> None:
    window = outcome.window
    where = f" on key {dumps(window.key)}" if window.key is not None else ""
    basis = "from any state" if window.from_any_state else "from the initial state"
    still_open = f", after {len(window.open_before)} still open (…)" if window.open_before else ""
    of = f"the key's {window.total}" if window.key is not None else f"{window.total}"
    console.print(f"{escape(prefix)}[red]not linearizable[/]{where}: smallest failing window, calls {window.start + 1}-"
                  f"{window.end} of {of} in invocation order ({len(window.calls)} operations"
                  f"{still_open}; fails {basis})", soft_wrap=True)
    table = Table("", "process", "f", "value", "outcome", "invoked at", "completed at", "line",
                  caption="at: positions in the history; line: where the invocation is in the file")
    for row in window_rows(outcome):
        table.add_row("…" if row["role"] == "open before" else "", str(row["process"]), row["f"], row["value"],
                      row["outcome"], str(row["invoked"]), "-" if row["completed"] is None else str(row["completed"]),
                      str(row["line"]))
    _print_unwrapped(table, console)


def _print_unwrapped(table: Table, console: Console) -> None:
    """The table as wide as its widest row, whatever the terminal's width: a value a user copies
    is never wrapped or cut (rich would fit the table to the terminal)."""
    width = console.width
    console.width = max(width, console.measure(table, options=console.options.update_width(10_000)).maximum)
    try:
        console.print(table)
    finally:
        console.width = width


def _print_text(outcome: Outcome, console: Console, prefix: str) -> None:
    if outcome.result == NOT_LINEARIZABLE:
        _print_window(outcome, console, prefix)
    elif outcome.result == UNKNOWN:
        where = f" on key {dumps(outcome.verdict.key)}" if outcome.verdict.key is not None else ""
        console.print(f"{prefix}unknown: search too large{where} (gave up after "
                      f"{outcome.verdict.configurations:,} configurations; nothing found, nothing proved)",
                      soft_wrap=True, markup=False)
    else:
        console.print(f"{prefix}linearizable", soft_wrap=True, markup=False)


def _check_file(path: str, model: Model, args: argparse.Namespace, console: Console, prefix: str) -> int:
    """Check one file and print its answer; its exit code."""
    try:
        outcome = check_history(read_history(path, keyed=model.keyed), model, path)
    except HistoryError as error:
        print(f"kinv: {error}", file=sys.stderr, flush=True)
        if args.json:
            print(json.dumps({"file": path, "model": model.name, "result": ERROR, "error": str(error)}), flush=True)
        return EXIT_INPUT
    if args.json:
        print(_json(path, model, outcome), flush=True)
    else:
        _print_text(outcome, console, prefix)
    return {NOT_LINEARIZABLE: EXIT_NOT_LINEARIZABLE, UNKNOWN: EXIT_UNDECIDED}.get(outcome.result, EXIT_LINEARIZABLE)


def _cmd_lincheck(args: argparse.Namespace, console: Console) -> int:
    try:
        model = model_by_name(args.model)
    except KeyError as error:
        raise InputError(str(error)) from None
    codes = {_check_file(path, model, args, console, f"{path}: " if len(args.files) > 1 else "")
             for path in args.files}
    for code in (EXIT_INPUT, EXIT_NOT_LINEARIZABLE, EXIT_UNDECIDED):  # the first that applies wins
        if code in codes:
            return code
    return EXIT_LINEARIZABLE
