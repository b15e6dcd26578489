"""``kinv lincheck`` on Jepsen-shaped histories, and side by side with porcupine.

``make bench`` prints our side (``run``): a corpus of 300 files in Jepsen's conventions
(``checks.lincheck.corpus``: etcd-style logs, independent keys, 6.824/porcupine kv-append with
10 to 50 clients, single registers; timeouts, crashed clients, :fail, spaces) and two 50-client
kv-append histories of porcupine's c50 shape, 302 files checked by ONE ``kinv lincheck --model
auto --json`` process, as a user checks a Jepsen store; and the peak memory of a
100,000-operation single-register history. The per-family figures come from that one process:
the bench notes when each file's JSON line arrives (and the process's CPU time then, from
/proc), the files sorted by name so that each family's run together. A one-operation history
goes first, so that the interpreter's start-up is a row of its own.

``python -m bench.lincheck --porcupine DIR`` runs the same files through porcupine
(github.com/anishathalye/porcupine, a Go library) in one process per family (its model is a
flag; a Go process starts in milliseconds), with the small Go program in
``bench/porcupine/main.go`` built against the porcupine checkout in DIR (default: the
``PORCUPINE_SRC`` environment variable), and prints both side by side: seconds, the slowest
file, and whether every verdict (and every model auto chose) agrees. Without Go or the checkout
it says so and stops; nothing in ``make test`` needs either. ``--write-tests`` rewrites
``tests/lincheck/jepsen`` and its manifest, taking porcupine's verdict for the files whose answer
is not known by construction.

Wall-clock figures stay here, in the bench: the checker itself never reads the clock.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs
from rich.console import Console
from rich.table import Table

from checks.lincheck.corpus import CorpusFile, write_corpus
from checks.lincheck.generate import APPEND_MIX
from checks.lincheck.search import LINEARIZABLE, NOT_LINEARIZABLE

__all__ = ["run", "compare", "build_porcupine", "Answer"]

SEED, FILES = 1, 300
PORCUPINE_TIMEOUT_SECONDS = 120  # per file; porcupine answers unknown past it
GO_MAIN = Path(__file__).parent / "porcupine" / "main.go"
TESTS = Path(__file__).parent.parent / "tests" / "lincheck" / "jepsen"
TEST_SEED, TEST_FILES, TEST_SCALE = 3, 32, 0.08  # as tests/test_lincheck_jepsen.py expects


STARTUP, STARTUP_FILE = "start-up", "startup.edn"  # the row and file of the history that goes first
STARTUP_HISTORY = "{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :ok, :f :read, :value nil}\n"


@attrs.frozen
class Answer:
    """One file's JSON line from kinv: its verdict, the model used, and the wall and CPU seconds
    since the previous line (the first: since the process started; CPU None without /proc)."""

    result: str
    model: str | None
    wall: float
    cpu: float | None


def _family(name: str) -> str:
    return name.split("-")[0]


def _families(paths: list[Path]) -> dict[str, list[Path]]:
    """family -> its paths, in the order given."""
    groups: dict[str, list[Path]] = {}
    for path in paths:
        groups.setdefault(_family(path.name), []).append(path)
    return groups


def _cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds a running (or not yet reaped) process has used, from /proc;
    None where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _kinv(paths: list[Path]) -> tuple[float, float, dict[str, Answer]]:
    """Wall and CPU seconds of one ``kinv lincheck --model auto --json`` process over ``paths``,
    and each file's answer, timed as its line arrives."""
    command = [sys.executable, "-m", "checks", "lincheck", "--model", "auto", "--json", *map(str, paths)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    answers: dict[str, Answer] = {}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        previous_wall, previous_cpu = start, 0.0
        for line in process.stdout:
            wall, cpu = time.perf_counter(), _cpu_seconds(process.pid)
            row = json.loads(line)
            answers[Path(row["file"]).name] = Answer(row["result"], row["model"], wall - previous_wall,
                                                     None if cpu is None else cpu - previous_cpu)
            previous_wall, previous_cpu = wall, cpu or 0.0
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, answers


def _timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user and system, all threads) and the output of a command.
    Both: wall time is what a user waits for, CPU time what the machine's other load leaves out
    (and porcupine checks a history's keys on every core at once)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, done.stdout


def _porcupine(binary: Path, model: str, paths: list[Path]) -> tuple[float, float, dict[str, tuple[str, float]]]:
    """Wall and CPU seconds of one porcupine process over ``paths``; per file its verdict and seconds."""
    wall, cpu, out = _timed([str(binary), "-model", model, "-timeout", str(PORCUPINE_TIMEOUT_SECONDS),
                             *map(str, paths)])
    rows = [line.split("\t") for line in out.splitlines() if not line.startswith("total\t")]
    return wall, cpu, {Path(path).name: (result, float(taken)) for path, result, taken in rows}


def _the_set(directory: Path) -> tuple[list[Path], dict[str, CorpusFile]]:
    """The 302 files written into ``directory``: their paths sorted by name (a family's files
    together, as a store lists them) and the files by name (the model each was written for, the
    verdict known by construction)."""
    files = write_corpus(directory, SEED, FILES) + _fifty_clients()
    for item in files[FILES:]:
        (directory / item.name).write_text(item.text, encoding="utf-8")
    return sorted(directory / item.name for item in files), {item.name: item for item in files}


def _kinv_on_the_set(directory: Path) -> tuple[list[Path], dict[str, CorpusFile], float, float, dict[str, Answer]]:
    """The set written into ``directory`` and checked by one kinv process, the start-up history
    first: the paths, the files by name, the process's wall and CPU seconds and its answers."""
    paths, written = _the_set(directory / "corpus")
    startup = directory / STARTUP_FILE
    startup.write_text(STARTUP_HISTORY)
    wall, cpu, answers = _kinv([startup, *paths])
    return paths, written, wall, cpu, answers


def _sum(values: list[float | None]) -> float | None:
    return None if any(value is None for value in values) else sum(values)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def build_porcupine(source: str | None, workdir: Path) -> Path | str:
    """The built Go program, or why it could not be built."""
    if shutil.which("go") is None:
        return "Go is not installed (apt-get install golang): porcupine skipped"
    if not source or not (Path(source) / "checker.go").exists():
        return "no porcupine checkout (--porcupine DIR or PORCUPINE_SRC): porcupine skipped"
    (workdir / "main.go").write_text(GO_MAIN.read_text())
    (workdir / "go.mod").write_text("module porcupinecheck\n\ngo 1.19\n\nrequire github.com/anishathalye/porcupine v0.0.0\n\n"
                                    f"replace github.com/anishathalye/porcupine => {Path(source).resolve()}\n")
    environment = dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off", GOCACHE=str(workdir / "cache"))
    built = subprocess.run(["go", "build", "-o", "porcupine-check", "."], cwd=workdir, env=environment,
                           capture_output=True, text=True, check=False)
    if built.returncode != 0:
        return f"go build failed: {built.stderr.strip().splitlines()[-1] if built.stderr.strip() else built.returncode}"
    return workdir / "porcupine-check"


def _peak_rss_mb(command: list[str]) -> float:
    """Peak resident memory of a command, in MB (run under a fresh Python parent)."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True)
    return int(done.stdout.strip()) / 1024


def _fifty_clients() -> list[CorpusFile]:
    """Porcupine's c50 shape: 50 clients over 10 keys, 1,712 calls, ~9% puts; ok and with a stale
    get (whether the stale get is certainly wrong only a checker says)."""
    import random

    from checks.lincheck.corpus import append_edn
    from checks.lincheck.generate import simulate
    from spec.kv.model import KV_APPEND

    files = []
    for name, stale in (("c50-ok.edn", None), ("c50-stale.edn", 1_000)):
        simulation = simulate(random.Random(50), KV_APPEND, 1_712, 50, keys=10, info_percent=0,
                              stale_after=stale, functions=APPEND_MIX)
        files.append(CorpusFile(name, append_edn(list(simulation.operations), random.Random(50)), KV_APPEND.name,
                                LINEARIZABLE if stale is None else None))
    return files


def _hundred_thousand(directory: Path) -> Path:
    import random

    from checks.lincheck.generate import format_edn, simulate
    from spec.kv.model import CAS_REGISTER

    path = directory / "register-100k.edn"
    path.write_text(format_edn(simulate(random.Random(100), CAS_REGISTER, 100_000, threads=8).operations))
    return path


def run(console: Console) -> None:
    """Our side: the 302 files in one process, per family; memory at 100k operations."""
    console.rule("lincheck: Jepsen-shaped histories")
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        paths, _, wall, cpu, answers = _kinv_on_the_set(directory)
        table = Table("family", "models", "files", "kinv s", "CPU s", "slowest file s", "not linearizable",
                      title=f"kinv lincheck --model auto on {len(paths)} files (seed {SEED}), one process")
        startup = answers.pop(STARTUP_FILE)
        table.add_row(STARTUP, startup.model or "-", "1", _seconds(startup.wall), _seconds(startup.cpu), "", "")
        for family, members in _families(paths).items():
            mine = [answers[path.name] for path in members]
            table.add_row(family, ", ".join(sorted({answer.model or "-" for answer in mine})), str(len(members)),
                          f"{sum(answer.wall for answer in mine):.2f}", _seconds(_sum([answer.cpu for answer in mine])),
                          f"{max(answer.wall for answer in mine):.2f}",
                          str(sum(answer.result == NOT_LINEARIZABLE for answer in mine)))
        table.add_row("all", "", str(len(paths)), f"{wall:.2f}", f"{cpu:.2f}", "", "")
        console.print(table)
        big = _hundred_thousand(directory)
        memory = _peak_rss_mb([sys.executable, "-m", "checks", "lincheck", "--model", "cas-register", str(big)])
        console.print(f"{big.name} (100,000 operations, 8 clients): peak memory {memory:.0f} MB")


def compare(console: Console, source: str | None) -> int:
    """Both checkers on the same files, side by side; 1 if any verdict differs."""
    console.rule("lincheck: kinv and porcupine side by side")
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        binary = build_porcupine(source, directory)
        if isinstance(binary, str):
            console.print(binary)
            return 0
        paths, written, wall, cpu, answers = _kinv_on_the_set(directory)
        return _side_by_side(console, binary, paths, written, (wall, cpu, answers))


def _side_by_side(console: Console, binary: Path, paths: list[Path], written: dict[str, CorpusFile],
                  ours: tuple[float, float, dict[str, Answer]]) -> int:
    ours_wall, ours_cpu, answers = ours
    table = Table("family", "files", "kinv s", "porcupine s", "kinv / porcupine", "kinv CPU s", "porcupine CPU s",
                  "slowest file kinv s", "slowest file porcupine s", "differ (verdict or model)", "porcupine unknown",
                  title="the same files: kinv in one process (--model auto), porcupine in one per family")
    startup = answers.pop(STARTUP_FILE)
    table.add_row(STARTUP, "1", _seconds(startup.wall), "", "", _seconds(startup.cpu), "", "", "", "", "")
    theirs_wall = theirs_cpu = 0.0
    disagreements: list[str] = []
    for family, members in _families(paths).items():
        model = written[members[0].name].model
        family_wall, family_cpu, theirs = _porcupine(binary, model, members)
        theirs_wall, theirs_cpu = theirs_wall + family_wall, theirs_cpu + family_cpu
        differ = _differences(members, written, answers, theirs, model)
        disagreements += differ
        mine = [answers[path.name] for path in members]
        wall = sum(answer.wall for answer in mine)
        table.add_row(family, str(len(members)), f"{wall:.2f}", f"{family_wall:.2f}", f"{wall / family_wall:.2f}",
                      _seconds(_sum([answer.cpu for answer in mine])), f"{family_cpu:.2f}",
                      f"{max(answer.wall for answer in mine):.2f}", f"{max(taken for _, taken in theirs.values()):.2f}",
                      str(len(differ)), str(sum(result == "unknown" for result, _ in theirs.values())))
    table.add_row("all", str(len(paths)), f"{ours_wall:.2f}", f"{theirs_wall:.2f}", f"{ours_wall / theirs_wall:.2f}",
                  f"{ours_cpu:.2f}", f"{theirs_cpu:.2f}", "", "", str(len(disagreements)), "")
    console.print(table)
    console.print("kinv's family rows: the time between the JSON lines of its files; 'all': the whole process, "
                  "start-up included")
    for line in disagreements:
        console.print(line)
    return 1 if disagreements else 0


def _differences(members: list[Path], written: dict[str, CorpusFile], answers: dict[str, Answer],
                 theirs: dict[str, tuple[str, float]], model: str) -> list[str]:
    """One line per file whose verdict differs from porcupine's (when it decided) or from the one
    known by construction, or whose model auto chose is not the one it was written for."""
    lines = []
    for path in members:
        answer, expected = answers[path.name], written[path.name].expected
        if answer.model != model:
            lines.append(f"model differs: {path.name} (auto chose {answer.model}, written for {model})")
        if theirs[path.name][0] not in ("unknown", answer.result) or expected not in (None, answer.result):
            lines.append(f"verdicts differ: {path.name} (kinv {answer.result}, porcupine {theirs[path.name][0]}, "
                         f"by construction {expected})")
    return lines


def write_tests(console: Console, source: str | None) -> int:
    """Rewrite tests/lincheck/jepsen: the files and their manifest (porcupine for the rest)."""
    with tempfile.TemporaryDirectory() as temporary:
        binary = build_porcupine(source, Path(temporary))
        if isinstance(binary, str):
            console.print(binary)
            return 2
        shutil.rmtree(TESTS, ignore_errors=True)
        files = write_corpus(TESTS, TEST_SEED, TEST_FILES, TEST_SCALE)
        rows = ["file\tmodel\texpected\tknown by"]
        for item in files:
            expected, source_name = item.expected, "construction"
            if expected is None:
                _, _, verdicts = _porcupine(binary, item.model, [TESTS / item.name])
                expected, source_name = verdicts[item.name][0], "porcupine"
            rows.append(f"{item.name}\t{item.model}\t{expected}\t{source_name}")
        (TESTS / "expected.tsv").write_text("\n".join(rows) + "\n")
        console.print(f"wrote {len(files)} files and expected.tsv into {TESTS}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lincheck", description=__doc__.splitlines()[0])
    parser.add_argument("--porcupine", metavar="DIR", default=os.environ.get("PORCUPINE_SRC"),
                        help="a checkout of github.com/anishathalye/porcupine (default: $PORCUPINE_SRC)")
    parser.add_argument("--write-tests", action="store_true", help="rewrite tests/lincheck/jepsen")
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 180))  # the table whole, even in a narrow terminal
    if args.write_tests:
        return write_tests(console, args.porcupine)
    return compare(console, args.porcupine)


if __name__ == "__main__":
    sys.exit(main())
