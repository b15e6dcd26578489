"""The mutants of tests/mutants (README.md there): each a patch with a header of `# key: value`."""

from __future__ import annotations

import re
from pathlib import Path

import attrs

__all__ = ["Mutant", "load_mutants", "MUTANTS_DIR", "AREAS"]

MUTANTS_DIR = Path(__file__).resolve().parent
AREAS = ("raft", "etcd", "rbac", "apiserver", "controllers")
_HEADER = re.compile(r"^# (\w+): (.*)$")


class MutantError(ValueError):
    pass


@attrs.frozen
class Mutant:
    name: str
    area: str
    pattern: str
    path: Path
    expect: str | None = None  # the invariant a search should report, when the author knows it
    equivalent: str | None = None  # why the edit cannot change behaviour, for a mutant that does not count

    @property
    def touched(self) -> list[str]:
        return re.findall(r"^\+\+\+ b/(\S+)$", self.path.read_text(), flags=re.MULTILINE)


def _header(path: Path) -> dict[str, str]:
    fields = {}
    for line in path.read_text().splitlines():
        if line.startswith("diff --git") or line.startswith("--- "):
            break
        match = _HEADER.match(line)
        if match:
            fields[match[1]] = match[2].strip()
    return fields


def load_mutant(path: Path) -> Mutant:
    fields = _header(path)
    area = path.parent.name
    if fields.get("mutant") != path.stem:
        raise MutantError(f"{path}: its header must start with `# mutant: {path.stem}`")
    if not fields.get("pattern"):
        raise MutantError(f"{path}: a `# pattern:` line says what real bug it imitates")
    equivalent = fields.get("equivalent")
    return Mutant(path.stem, area, fields["pattern"], path, fields.get("expect") or None,
                  None if equivalent in (None, "", "no") else equivalent)


def load_mutants() -> list[Mutant]:
    return [load_mutant(path) for area in AREAS for path in sorted((MUTANTS_DIR / area).glob("*.patch"))]
