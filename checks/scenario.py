"""The scenario language shared by every area: one command a line, `#` starts a comment.

An area interprets the commands; this module only splits lines and reports malformed input as
`file:line: message` (DESIGN.md, "Scenario files").
"""

from __future__ import annotations

import shlex

import attrs

from checks.area import InputError

__all__ = ["Command", "ScenarioError", "parse", "area_of_scenario", "expectation_failure", "parse_expect", "DEFAULT_AREA"]

DEFAULT_AREA = "raft"


class ScenarioError(InputError):
    def __init__(self, filename: str, line_no: int, message: str) -> None:
        super().__init__(f"{filename}:{line_no}: {message}")


@attrs.frozen
class Command:
    name: str
    args: tuple[str, ...]
    line_no: int
    text: str


def parse(text: str, filename: str) -> list[Command]:
    commands = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            words = shlex.split(line)
        except ValueError as error:
            raise ScenarioError(filename, line_no, f"cannot split line: {error}") from None
        commands.append(Command(words[0], tuple(words[1:]), line_no, line))
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
