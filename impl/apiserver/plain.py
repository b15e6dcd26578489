"""Copies of plain JSON data (dicts, lists, strings, numbers, booleans, None).

Objects in the server are JSON values; ``marshal`` copies exactly those types, several times
faster than ``copy.deepcopy``, which matters on every admission step of every write.
"""

from __future__ import annotations

import marshal
from typing import Any

__all__ = ["clone"]


def clone(value: Any) -> Any:
    return marshal.loads(marshal.dumps(value))
