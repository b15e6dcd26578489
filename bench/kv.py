"""Linearizability checker figures (issue 4, "make bench"): seconds to check simulated kv
histories of 1,000 to 10,000 operations over 100 keys and 8 clients, and to find one injected
stale read together with its shortest failing window. Also single (unsplit) registers of the
same sizes, to show what splitting per key saves: a failing search must refute every ordering
of the calls before the stale read, so its cost grows with the history, while per key it stays
small. The stale read is injected at about the middle (history position = events, two per call)."""

from __future__ import annotations

import random
import time

from rich.console import Console
from rich.table import Table

from bench import lincheck
from checks.lincheck import check_history, parse_history
from checks.lincheck.generate import format_edn, simulate
from spec.kv.model import CAS_REGISTER, KV, REGISTER

__all__ = ["run", "growth_table", "stale_read_table"]

SIZES = (1_000, 2_000, 5_000, 10_000)
KEYS, CLIENTS, SEED = 100, 8, 1
REGISTER_SIZES = (1_000, 2_000, 5_000, 10_000)


def _timed(function, *arguments):
    start = time.perf_counter()
    value = function(*arguments)
    return value, time.perf_counter() - start


def growth_table(sizes=SIZES) -> Table:
    table = Table("operations", "model", "keys", "clients", "parse EDN s", "check s", "configurations", "result",
                  title="linearizability check of simulated histories (seed 1)")
    for size in sizes:
        operations = simulate(random.Random(SEED), KV, size, CLIENTS, KEYS).operations
        parsed, parse_seconds = _timed(parse_history, format_edn(operations, keyed=True), "bench", True)
        outcome, seconds = _timed(check_history, parsed, KV)
        table.add_row(f"{size:,}", "kv", str(KEYS), str(CLIENTS), f"{parse_seconds:.2f}", f"{seconds:.3f}",
                      f"{outcome.verdict.configurations:,}", outcome.result)
    for size in REGISTER_SIZES:
        operations = simulate(random.Random(SEED), CAS_REGISTER, size, CLIENTS).operations
        outcome, seconds = _timed(check_history, operations, CAS_REGISTER)
        table.add_row(f"{size:,}", "cas-register", "1", str(CLIENTS), "-", f"{seconds:.3f}",
                      f"{outcome.verdict.configurations:,}", outcome.result)
    return table


def stale_read_table(sizes=SIZES) -> Table:
    table = Table("operations", "model", "stale read at position", "found", "key", "check + window s",
                  "configurations", "window calls", "window has the stale read",
                  title=f"one injected stale read ({CLIENTS} clients; kv over {KEYS} keys, register unsplit)")
    cases = [(KV, size, KEYS) for size in sizes] + [(REGISTER, size, 1) for size in sizes]
    for model, size, keys in cases:
        simulation = simulate(random.Random(SEED), model, size, CLIENTS, keys, stale_after=size)
        outcome, seconds = _timed(check_history, simulation.operations, model)
        window = outcome.window
        inside = window is not None and simulation.stale_read_index in [call.invoked for call in window.calls]
        table.add_row(f"{size:,}", model.name, str(simulation.stale_read_index), outcome.result,
                      str(outcome.verdict.key or "-"), f"{seconds:.3f}", f"{outcome.verdict.configurations:,}",
                      str(len(window.calls)) if window else "-", "yes" if inside else "no")
    return table


def run(console: Console) -> None:
    console.rule("kv: linearizability checker")
    console.print(growth_table())
    console.print(stale_read_table())
    lincheck.run(console)  # Jepsen-shaped files; `python -m bench.lincheck` puts porcupine beside it
