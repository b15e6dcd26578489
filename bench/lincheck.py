"""``kinv lincheck`` on Jepsen-shaped histories, and side by side with porcupine.

``make bench`` prints our side (``run``): a corpus of 300 files in Jepsen's conventions
(``checks.lincheck.corpus``: etcd-style logs, independent keys, 6.824/porcupine kv-append with
10 to 50 clients, single registers; timeouts, crashed clients, :fail, spaces), checked by one
``kinv lincheck`` process per family; a 50-client kv-append history of porcupine's c50 shape; and
the peak memory of a 100,000-operation single-register history.

``python -m bench.lincheck --porcupine DIR`` runs the same files through porcupine
(github.com/anishathalye/porcupine, a Go library) in one process per family, with the small Go
program in ``bench/porcupine/main.go`` built against the porcupine checkout in DIR (default: the
``PORCUPINE_SRC`` environment variable), and prints both side by side: seconds, the slowest
file, and whether every verdict agrees. Without Go or the checkout it says so and stops; nothing
in ``make test`` needs either. ``--write-tests`` rewrites ``tests/lincheck/jepsen`` and its
manifest, taking porcupine's verdict for the files whose answer is not known by construction.

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
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from checks.lincheck.corpus import CorpusFile, write_corpus
from checks.lincheck.generate import APPEND_MIX

__all__ = ["run", "compare", "build_porcupine"]

SEED, FILES = 1, 300
PORCUPINE_TIMEOUT_SECONDS = 120  # per file; porcupine answers unknown past it
GO_MAIN = Path(__file__).parent / "porcupine" / "main.go"
TESTS = Path(__file__).parent.parent / "tests" / "lincheck" / "jepsen"
TEST_SEED, TEST_FILES, TEST_SCALE = 3, 32, 0.08  # as tests/test_lincheck_jepsen.py expects


def _families(files: list[CorpusFile], directory: Path) -> dict[str, tuple[str, list[Path]]]:
    """family -> (model, paths)."""
    groups: dict[str, tuple[str, list[Path]]] = {}
    for item in files:
        family = item.name.split("-")[0]
        groups.setdefault(family, (item.model, []))[1].append(directory / item.name)
    return groups


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


def _kinv(model: str, paths: list[Path]) -> tuple[float, float, dict[str, str]]:
    """Wall and CPU seconds of one ``kinv lincheck --json`` process over ``paths``; its verdicts."""
    wall, cpu, out = _timed([sys.executable, "-m", "checks", "lincheck", "--model", model, "--json", *map(str, paths)])
    return wall, cpu, {Path(row["file"]).name: row["result"] for row in map(json.loads, out.splitlines())}


def _porcupine(binary: Path, model: str, paths: list[Path]) -> tuple[float, float, dict[str, tuple[str, float]]]:
    """Wall and CPU seconds of one porcupine process over ``paths``; per file its verdict and seconds."""
    wall, cpu, out = _timed([str(binary), "-model", model, "-timeout", str(PORCUPINE_TIMEOUT_SECONDS),
                             *map(str, paths)])
    rows = [line.split("\t") for line in out.splitlines() if not line.startswith("total\t")]
    return wall, cpu, {Path(path).name: (result, float(taken)) for path, result, taken in rows}


def _per_file_seconds(model_name: str, paths: list[Path]) -> dict[str, float]:
    """Each file read and checked in this process (the slowest file's figure)."""
    from checks.lincheck import check_history, read_history
    from spec.kv.model import model_by_name

    model, seconds = model_by_name(model_name), {}
    for path in paths:
        start = time.perf_counter()
        check_history(read_history(str(path), keyed=model.keyed), model, str(path))
        seconds[path.name] = time.perf_counter() - start
    return seconds


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


def _fifty_clients(directory: Path) -> list[Path]:
    """Porcupine's c50 shape: 50 clients over 10 keys, 1,712 calls, ~9% puts; ok and with a stale get."""
    import random

    from checks.lincheck.corpus import append_edn
    from checks.lincheck.generate import simulate
    from spec.kv.model import KV_APPEND

    paths = []
    for name, stale in (("c50-ok.edn", None), ("c50-stale.edn", 1_000)):
        simulation = simulate(random.Random(50), KV_APPEND, 1_712, 50, keys=10, info_percent=0,
                              stale_after=stale, functions=APPEND_MIX)
        paths.append(directory / name)
        paths[-1].write_text(append_edn(list(simulation.operations), random.Random(50)))
    return paths


def _hundred_thousand(directory: Path) -> Path:
    import random

    from checks.lincheck.generate import format_edn, simulate
    from spec.kv.model import CAS_REGISTER

    path = directory / "register-100k.edn"
    path.write_text(format_edn(simulate(random.Random(100), CAS_REGISTER, 100_000, threads=8).operations))
    return path


def run(console: Console) -> None:
    """Our side: the corpus per family, the 50-client history, memory at 100k operations."""
    console.rule("lincheck: Jepsen-shaped histories")
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        files = write_corpus(directory, SEED, FILES)
        table = Table("family", "model", "files", "kinv s (one process)", "CPU s", "slowest file s",
                      "not linearizable", title=f"kinv lincheck on {len(files)} files (seed {SEED})")
        for family, (model, paths) in _families(files, directory).items():
            wall, cpu, verdicts = _kinv(model, paths)
            slowest = max(_per_file_seconds(model, paths).values())
            table.add_row(family, model, str(len(paths)), f"{wall:.2f}", f"{cpu:.2f}", f"{slowest:.2f}",
                          str(sum(result == "not linearizable" for result in verdicts.values())))
        console.print(table)
        for path in _fifty_clients(directory):
            wall, cpu, verdicts = _kinv("kv-append", [path])
            console.print(f"{path.name}: {verdicts[path.name]} in {wall:.2f} s ({cpu:.2f} s CPU, one kinv process)")
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
        files = write_corpus(directory / "corpus", SEED, FILES)
        groups = _families(files, directory / "corpus")
        groups["c50"] = ("kv-append", _fifty_clients(directory))
        return _side_by_side(console, binary, groups, {item.name: item.expected for item in files})


def _side_by_side(console: Console, binary: Path, groups: dict, expected: dict[str, str | None]) -> int:
    table = Table("family", "files", "kinv s", "porcupine s", "kinv / porcupine", "kinv CPU s", "porcupine CPU s",
                  "slowest file kinv s", "slowest file porcupine s", "verdicts differ", "porcupine unknown",
                  title="the same files, one process per family and checker")
    totals, disagreements = defaultdict(float), []
    for family, (model, paths) in groups.items():
        ours_wall, ours_cpu, ours = _kinv(model, paths)
        theirs_wall, theirs_cpu, theirs = _porcupine(binary, model, paths)
        slowest_ours = max(_per_file_seconds(model, paths).values())
        differ = [name for name in ours if theirs[name][0] not in ("unknown", ours[name])]
        differ += [name for name in ours if expected.get(name) not in (None, ours[name])]
        disagreements += differ
        for name, value in (("kinv", ours_wall), ("porcupine", theirs_wall), ("kinv CPU", ours_cpu),
                            ("porcupine CPU", theirs_cpu)):
            totals[name] += value
        table.add_row(family, str(len(paths)), f"{ours_wall:.2f}", f"{theirs_wall:.2f}", f"{ours_wall / theirs_wall:.2f}",
                      f"{ours_cpu:.2f}", f"{theirs_cpu:.2f}", f"{slowest_ours:.2f}",
                      f"{max(taken for _, taken in theirs.values()):.2f}", str(len(differ)),
                      str(sum(result == "unknown" for result, _ in theirs.values())))
    table.add_row("all", str(sum(len(paths) for _, paths in groups.values())), f"{totals['kinv']:.2f}",
                  f"{totals['porcupine']:.2f}", f"{totals['kinv'] / totals['porcupine']:.2f}",
                  f"{totals['kinv CPU']:.2f}", f"{totals['porcupine CPU']:.2f}", "", "", str(len(disagreements)), "")
    console.print(table)
    for name in disagreements:
        console.print(f"verdicts differ: {name}")
    return 1 if disagreements else 0


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
