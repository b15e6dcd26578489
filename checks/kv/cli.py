"""``kinv lincheck FILE [--model register|cas-register|kv] [--json]``.

Checks a history recorded anywhere (ours, or a real etcd's under Jepsen) for linearizability
against a sequential model from ``spec.kv.model``. Prints ``linearizable`` (exit 0) or the
shortest non-linearizable window with its operations (exit 1); malformed input is one line,
``file:line: message``, exit 2. A search past its bound is undecided: one line on stderr,
"search too large", exit 2 (nothing was found, nothing proved); ``--json`` says ``"unknown"``.

``--json`` prints one object: file, model, result, operations (the calls checked: :fail
operations and reads of unknown outcome excluded), configurations, key (kv) and window (its
calls, values written as EDN).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from checks.area import InputError
from checks.lincheck import NOT_LINEARIZABLE, UNKNOWN, Call, HistoryError, Outcome, check_history, read_history
from checks.lincheck.history import NEVER
from checks.lincheck.jepsen import Keyword
from spec.kv.model import MODELS, model_by_name

__all__ = ["add_subcommands", "window_rows"]

EXIT_LINEARIZABLE, EXIT_NOT_LINEARIZABLE, EXIT_UNDECIDED = 0, 1, 2
DEFAULT_MODEL = "register"


def add_subcommands(commands) -> None:
    lincheck = commands.add_parser("lincheck", help="check a Jepsen history for linearizability")
    lincheck.add_argument("file", metavar="FILE", help="Jepsen EDN operation maps or jepsen.util log lines")
    lincheck.add_argument("--model", choices=sorted(MODELS), default=DEFAULT_MODEL,
                          help="the sequential model (default: register); kv takes Jepsen independent [key value] "
                               "values, e.g. an independent cas-register history, and checks each key alone")
    lincheck.add_argument("--json", action="store_true")
    lincheck.set_defaults(func=_cmd_lincheck)


def _show(value: Any) -> str:
    """A value as EDN: nil, :keyword, "string", [vector]."""
    if value is None:
        return "nil"
    if isinstance(value, tuple):
        return "[" + " ".join(_show(item) for item in value) + "]"
    if isinstance(value, Keyword):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


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
            rows.append({"role": role, "process": call.process, "f": call.f, "key": None if call.key is None else _show(call.key),
                         "value": _show(call.value), "outcome": _outcome_at(call, window.cut_time),
                         "invoked": call.invoked,
                         "completed": None if call.completed == NEVER else call.completed, "line": call.line})
    return rows


def _json(args: argparse.Namespace, outcome: Outcome) -> str:
    return json.dumps({"file": args.file, "model": args.model, "result": outcome.result,
                       "operations": outcome.calls, "configurations": outcome.verdict.configurations,
                       "key": _show(outcome.verdict.key) if outcome.verdict.key is not None else None,
                       "window": window_rows(outcome) if outcome.window else None})


def _print_window(outcome: Outcome, console: Console) -> None:
    window = outcome.window
    where = f" on key {_show(window.key)}" if window.key is not None else ""
    basis = "from any state" if window.from_any_state else "from the initial state"
    still_open = f", after {len(window.open_before)} still open (…)" if window.open_before else ""
    of = f"the key's {window.total}" if window.key is not None else f"{window.total}"
    console.print(f"[red]not linearizable[/]{where}: smallest failing window, calls {window.start + 1}-"
                  f"{window.end} of {of} in invocation order ({len(window.calls)} operations"
                  f"{still_open}; fails {basis})")
    table = Table("", "process", "f", "value", "outcome", "invoked at", "completed at", "line",
                  caption="at: positions in the history; line: where the invocation is in the file")
    for row in window_rows(outcome):
        table.add_row("…" if row["role"] == "open before" else "", str(row["process"]), row["f"], row["value"],
                      row["outcome"], str(row["invoked"]), "-" if row["completed"] is None else str(row["completed"]),
                      str(row["line"]))
    console.print(table)


def _cmd_lincheck(args: argparse.Namespace, console: Console) -> int:
    model = model_by_name(args.model)
    try:
        outcome = check_history(read_history(args.file, keyed=model.keyed), model, args.file)
    except HistoryError as error:
        raise InputError(str(error)) from None
    if args.json:
        print(_json(args, outcome), flush=True)
    elif outcome.result == NOT_LINEARIZABLE:
        _print_window(outcome, console)
    elif outcome.result == UNKNOWN:
        print(f"kinv: {args.file}: undecided: search too large (gave up after "
              f"{outcome.verdict.configurations:,} configurations)", file=sys.stderr)
    else:
        console.print("linearizable")
    return {NOT_LINEARIZABLE: EXIT_NOT_LINEARIZABLE, UNKNOWN: EXIT_UNDECIDED}.get(outcome.result, EXIT_LINEARIZABLE)
