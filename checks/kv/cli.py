"""``kinv lincheck FILE ... [--model register|cas-register|kv|kv-append|auto] [--json]``.

Checks histories recorded anywhere (ours, or a real etcd's under Jepsen) for linearizability
against a sequential model from ``spec.kv.model``, each file on its own, all in one process (a
Jepsen store holds hundreds). For each file it prints ``linearizable``, the shortest
non-linearizable window with its operations, or ``unknown``: the search ran past its bound
before an answer (nothing was found, nothing proved). With several files each answer starts
with the file's name. ``--model auto`` chooses each file's model from its operations
(``checks.lincheck.choose``), so that one process checks a store of several workloads.

``--json`` prints one object per file and line: file, model (with ``auto`` the one chosen, null
when none could be), result (``linearizable``, ``not linearizable``, ``unknown``, or ``error``
with ``error`` the message), operations (the calls checked: :fail operations and reads of
unknown outcome excluded), configurations, key (keyed models) and window (its calls, values
written as EDN).

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
from checks.lincheck.choose import AUTO, choose_model
from checks.lincheck.edn import dumps
from checks.lincheck.history import NEVER, Operation
from checks.lincheck.jepsen import read_operations, with_keys, without_keys
from spec.kv.model import MODELS, Model, model_by_name

__all__ = ["add_subcommands", "window_rows"]

EXIT_LINEARIZABLE, EXIT_NOT_LINEARIZABLE, EXIT_INPUT, EXIT_UNDECIDED = 0, 1, 2, 3
DEFAULT_MODEL = "register"  # what `kinv lincheck FILE` has always meant; auto is asked for by name
EXIT_CODES = ("exit code: 0 every file linearizable; 1 some file not linearizable; 2 a usage error, or some file "
              "could not be read (one line on stderr; the other files are still answered); 3 some file undecided "
              "(the search ran past its bound) and none failing")
ERROR = "error"  # the --json result of a file that could not be read


def add_subcommands(commands) -> None:
    lincheck = commands.add_parser("lincheck", help="check Jepsen histories for linearizability",
                                   description="Check histories for linearizability, each file on its own.",
                                   epilog=EXIT_CODES)
    lincheck.add_argument("files", nargs="+", metavar="FILE",
                          help="Jepsen EDN operation maps or jepsen.util log lines; several files are checked one by one")
    lincheck.add_argument("--model", choices=[*sorted(MODELS), AUTO], default=DEFAULT_MODEL,
                          help="the sequential model (default: register); kv and kv-append take a key per operation "
                               "(a :key field or Jepsen independent [key value] values) and check each key alone; "
                               "kv-append is :get, :put and :append on strings; auto chooses per file from its "
                               "operations (:append, :get, :put: kv-append; with keys: kv; :cas: cas-register; "
                               ":read and :write: register) and says which (--json: model)")
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


def _read(path: str, model: Model | None) -> tuple[Model, list[Operation]]:
    """The file's operations as its model reads them, and the model (chosen from the operations
    when ``model`` is None); HistoryError on anything unreadable."""
    if model is not None:
        return model, read_history(path, keyed=model.keyed)
    operations = read_operations(path)
    model = choose_model(operations, path)
    return model, with_keys(operations, path) if model.keyed else without_keys(operations)


def _check_file(path: str, model: Model | None, args: argparse.Namespace, console: Console, prefix: str) -> int:
    """Check one file against ``model`` (None: the model its operations call for) and print its
    answer; its exit code."""
    chosen = model
    try:
        chosen, operations = _read(path, model)
        outcome = check_history(operations, chosen, path)
    except HistoryError as error:
        print(f"kinv: {error}", file=sys.stderr, flush=True)
        if args.json:
            print(json.dumps({"file": path, "model": chosen and chosen.name, "result": ERROR, "error": str(error)}),
                  flush=True)
        return EXIT_INPUT
    if args.json:
        print(_json(path, chosen, outcome), flush=True)
    else:
        _print_text(outcome, console, prefix if model is not None else f"{prefix}({chosen.name}) ")
    return {NOT_LINEARIZABLE: EXIT_NOT_LINEARIZABLE, UNKNOWN: EXIT_UNDECIDED}.get(outcome.result, EXIT_LINEARIZABLE)


def _cmd_lincheck(args: argparse.Namespace, console: Console) -> int:
    try:
        model = None if args.model == AUTO else model_by_name(args.model)
    except KeyError as error:
        raise InputError(str(error)) from None
    codes = {_check_file(path, model, args, console, f"{path}: " if len(args.files) > 1 else "")
             for path in args.files}
    for code in (EXIT_INPUT, EXIT_NOT_LINEARIZABLE, EXIT_UNDECIDED):  # the first that applies wins
        if code in codes:
            return code
    return EXIT_LINEARIZABLE
