"""`kinv check --help`: every option that takes a value says its default, and the areas offered
are the implemented ones only (an area named in DESIGN.md but not built yet is not offered)."""

from __future__ import annotations

import re

import pytest

from checks.area import AREA_NAMES, implemented_areas
from checks.cli import main


@pytest.fixture
def check_help(capsys, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option: a default is never split from its value
    with pytest.raises(SystemExit) as exited:
        main(["check", "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def _options(text: str) -> dict[str, tuple[str | None, str]]:
    """option -> (its metavar, or None for a flag; its help), from the help's options section."""
    section = text.split("options:\n", 1)[1]
    found = {}
    for line in section.splitlines():
        match = re.match(r"\s+(?:-\w, )?(--[\w-]+)(?: ([A-Z]+))?\s{2,}(.*)", line)
        if match:
            found[match.group(1)] = (match.group(2), match.group(3))
    return found


def _defaults() -> dict[str, object]:
    """What `kinv check` runs with when an option is not given, as the parser sets it."""
    from checks.cli import _build_parser

    return vars(_build_parser().parse_args(["check"]))


def test_every_option_with_a_value_says_its_default(check_help):
    options, defaults = _options(check_help), _defaults()
    assert {"--bug", "--budget", "--seed", "--report", "--json"} <= set(options)
    for option, (metavar, help_text) in options.items():
        if metavar is None:
            continue  # a flag (--json, --help): off unless given
        default = defaults[option.removeprefix("--").replace("-", "_")]
        said = re.search(r"\bdefault:? ([^;)]+)", help_text)
        assert said, f"{option} does not say its default: {help_text}"
        if isinstance(default, (int, float)):
            assert float(said.group(1).split()[0]) == default, option
        else:
            assert default is None, option  # no value: the help says what happens instead ("none, …")


def test_only_implemented_areas_are_offered(check_help):
    offered = re.search(r"AREA\s+one of ([\w, ]+?), each", check_help)
    assert offered and offered.group(1).split(", ") == implemented_areas()
    for area in set(AREA_NAMES) - set(implemented_areas()):
        assert not re.search(rf"\b{area}\b", check_help), area
