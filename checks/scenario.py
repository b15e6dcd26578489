"""The scenario language shared by every area: one command a line, `#` starts a comment.

An area interprets the commands; this module splits lines, expands `repeat`, reads the `maybe`
mark, and reports malformed input as `file:line: message` (DESIGN.md, "Scenario files").

- `repeat N COMMAND ...` runs COMMAND N times; `{i}` in it counts 1..N (`repeat 200 propose n1 v{i}`).
- `maybe COMMAND ...`: the command may find nothing to do (deliver on an empty link, crash a node
  that is down, propose to a follower). Without the mark that is an error at its line: a scenario
  that silently does nothing is not testing what its author thinks.
- `expect held` / `expect violated ID` say how the whole run must end; other `expect` lines are
  state assertions of the area (`expect leader n1 term=4`, `expect get c1 k v`) that fail at their
  line when the state differs.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

import attrs

from checks.area import InputError
from checks.violation import InvariantViolated

__all__ = ["Command", "ScenarioError", "NoEffect", "AssertionFailed", "parse", "area_of_scenario",
           "expectation_failure", "parse_expect", "is_outcome_expect", "DEFAULT_AREA", "REPEAT_MAX",
           "LINES_MAX", "Strictness", "play", "partition_groups", "scenario_body", "integer_word", "cluster_words"]

DEFAULT_AREA = "raft"
REPEAT_MAX = 100_000
LINES_MAX = 1_000_000  # commands after expanding `repeat`


class ScenarioError(InputError):
    def __init__(self, filename: str, line_no: int, message: str) -> None:
        super().__init__(f"{filename}:{line_no}: {message}")


class NoEffect(Exception):
    """A command found nothing to do; an error unless its line is marked `maybe`."""


class AssertionFailed(Exception):
    """A state assertion (`expect leader n1 term=4`) does not hold; the message says what is."""


@attrs.frozen
class Command:
    name: str
    args: tuple[str, ...]
    line_no: int
    text: str
    maybe: bool = False  # marked `maybe`: finding nothing to do is not an error


def _expand(words: list[str], filename: str, line_no: int) -> list[list[str]]:
    """`repeat N COMMAND` as N commands, `{i}` replaced by 1..N; any other line as itself."""
    if words[0] != "repeat":
        return [words]
    if len(words) < 3 or not words[1].isdigit() or not 1 <= int(words[1]) <= REPEAT_MAX:
        raise ScenarioError(filename, line_no, f"usage: repeat N COMMAND ... (N from 1 to {REPEAT_MAX})")
    if words[2] in ("repeat", "expect"):
        raise ScenarioError(filename, line_no, f"`{words[2]}` cannot be repeated")
    return [[w.replace("{i}", str(i)) for w in words[2:]] for i in range(1, int(words[1]) + 1)]


def _command(words: list[str], line_no: int, filename: str) -> Command:
    maybe = words[0] == "maybe"
    if maybe:
        words = words[1:]
        if not words or words[0] in ("maybe", "expect", "repeat", "cluster", "area"):
            raise ScenarioError(filename, line_no, "usage: maybe COMMAND ... (a command that may do nothing)")
    return Command(words[0], tuple(words[1:]), line_no, " ".join(words), maybe)


def parse(text: str, filename: str) -> list[Command]:
    commands: list[Command] = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            words = shlex.split(line)
        except ValueError as error:
            raise ScenarioError(filename, line_no, f"cannot split line: {error}") from None
        for expanded in _expand(words, filename, line_no):
            commands.append(_command(expanded, line_no, filename))
        if len(commands) > LINES_MAX:
            raise ScenarioError(filename, line_no, f"more than {LINES_MAX} commands after `repeat`")
    if not commands:
        raise ScenarioError(filename, 1, "empty scenario: no commands")
    return commands


def area_of_scenario(text: str, filename: str) -> str:
    """A scenario may start with `area NAME`; without it, it is a Raft scenario."""
    first = parse(text, filename)[0]
    if first.name != "area":
        return DEFAULT_AREA
    if len(first.args) != 1:
        raise ScenarioError(filename, first.line_no, "usage: area NAME")
    return first.args[0]


def is_outcome_expect(command: Command) -> bool:
    """`expect held` / `expect violated ID` (how the run ends), not a state assertion."""
    return command.name == "expect" and bool(command.args) and command.args[0] in ("held", "violated")


def parse_expect(command: Command, filename: str, area: str) -> tuple[str, ...]:
    """An `expect held` or `expect violated ID` line, ID one of ``area``'s invariants."""
    from spec.invariant import all_invariants  # spec imports nothing from checks: no cycle

    known = {inv.id for inv in all_invariants(area)}
    if command.args == ("held",):
        return ("held",)
    if len(command.args) == 2 and command.args[0] == "violated":
        if command.args[1] not in known:
            raise ScenarioError(filename, command.line_no,
                                f"unknown invariant {command.args[1]!r} for area {area}")
        return tuple(command.args)
    raise ScenarioError(filename, command.line_no, "usage: expect held | expect violated INVARIANT-ID")


def expectation_failure(expect: tuple[str, ...] | None, violated: str | None) -> str | None:
    """What an `expect held` / `expect violated ID` line says went otherwise, or None.
    ``violated`` is the id of the invariant that broke, None if every one held."""
    if expect is None:
        return None
    if expect == ("held",) and violated is not None:
        return f"expected every invariant to hold, but {violated} broke"
    if expect[0] == "violated" and violated != expect[1]:
        return f"expected {expect[1]} to break, but {violated or 'nothing'} did"
    return None


def partition_groups(args: tuple[str, ...]) -> list[list[str]]:
    """`partition a1 b1 | c1 c2` as [["a1", "b1"], ["c1", "c2"]]."""
    groups: list[list[str]] = [[]]
    for word in args:
        if word == "|":
            groups.append([])
        else:
            groups[-1].append(word)
    return groups


_DELAY = re.compile(r"^(\d+)\.\.(\d+)$")


def integer_word(filename: str, command: Command, word: str, what: str, low: int, high: int) -> int:
    """``word`` as an integer from ``low`` to ``high``, or the error at the command's line."""
    if not word.isdigit() or not low <= int(word) <= high:
        raise ScenarioError(filename, command.line_no, f"{what} must be an integer from {low} to {high}, not {word!r}")
    return int(word)


def cluster_words(command: Command, filename: str, limits: dict[str, tuple[int, int]],
                  other: Callable[[str, dict[str, Any]], bool], options_text: str) -> tuple[dict[str, Any], Any]:
    """The `cluster` line of a simulated-world area: ``key=N`` numbers within ``limits``, the
    network's ``delay=A..B`` and ``drop=P``, and the words ``other(word, values)`` takes (it
    stores what it read in ``values``). Returns (values, NetworkFaults)."""
    from impl.sim.network import NetworkFaults

    values: dict[str, Any] = {}
    delay, drop = (1, 1), 0.0
    for word in command.args:
        key, _, value = word.partition("=")
        if key in limits:
            values[key] = integer_word(filename, command, value, key, *limits[key])
        elif key == "delay" and _DELAY.match(value):
            delay = tuple(map(int, _DELAY.match(value).groups()))
        elif key == "drop":
            try:
                drop = float(value)
            except ValueError:
                raise ScenarioError(filename, command.line_no, f"drop must be a rate, not {value!r}") from None
        elif not other(word, values):
            raise ScenarioError(filename, command.line_no, f"unknown cluster option {word!r}; options are "
                                                           f"{options_text} delay=A..B drop=P")
    if delay[0] > delay[1] or not 0.0 <= drop <= 1.0:
        raise ScenarioError(filename, command.line_no, "delay must be A..B with A <= B; drop a rate from 0 to 1")
    return values, NetworkFaults(delay[0], delay[1], drop_rate=drop)


def scenario_body(text: str, filename: str, area: str,
                  start: Callable[[Command], tuple[Any, Callable[[Command], None]]]) -> tuple[Any, list[Command], Any]:
    """(options, steps, the `expect held|violated` line) of an area's scenario. The `area` line is
    optional; ``start(cluster_line)`` reads the options and returns them with the check that
    validates each step before anything runs."""
    commands = parse(text, filename)
    if commands[0].name == "area":
        commands = commands[1:]
    if not commands:
        raise ScenarioError(filename, 1, "empty scenario: no cluster line")
    options, check = start(commands[0])
    steps, expect = [], None
    for command in commands[1:]:
        if is_outcome_expect(command):
            expect = parse_expect(command, filename, area)
        else:
            check(command)
            steps.append(command)
    return options, steps, expect


class Strictness:
    """For a harness: whether a command that finds nothing to do is an error. A scenario file is
    strict except on `maybe` lines; a search and the shrinker are lenient, and the harness marks
    each such line it records `maybe`, so what it writes out replays strictly."""

    allow_no_effect: bool = True

    def no_effect(self, reason: str) -> None:
        if not self.allow_no_effect:
            raise NoEffect(reason)
        if not self.lines[-1].startswith("maybe "):
            self.lines[-1] = "maybe " + self.lines[-1]

    lines: list[str]


def play(cluster: Any, steps: list[Command], filename: str, lenient: bool,
         execute: Callable[[Any, Command], None]) -> tuple[Any, str | None]:
    """Run the steps on an area's harness (a ``Strictness`` and ``RecordsFindings``) until one
    breaks an invariant or fails its assertion. Returns the violation (an exception out of impl/
    is the IMPL-EXCEPTION finding; one of ours is re-raised) and the failed assertion's message.
    A line that found nothing to do is a ``ScenarioError`` at its line, unless marked `maybe`
    or ``lenient``."""
    try:
        for command in steps:
            cluster.allow_no_effect = lenient or command.maybe
            try:
                execute(cluster, command)
            except NoEffect as nothing:
                raise ScenarioError(filename, command.line_no,
                                    f"{command.text}: {nothing} (mark the line `maybe` if that is expected)") from None
            except AssertionFailed as failed:
                return None, f"{filename}:{command.line_no}: {command.text}: {failed}"
    except InvariantViolated as found:
        return found, None
    except ScenarioError:
        raise
    except Exception as error:  # out of impl/: an IMPL-EXCEPTION finding; ours: re-raised
        return cluster.exception_raised(error), None
    return None, None
