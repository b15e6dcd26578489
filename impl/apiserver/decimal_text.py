"""Reading decimal numbers from request text: ASCII digits only (``str.isdigit`` also accepts
"²" and other digits ``int`` refuses)."""

from __future__ import annotations

__all__ = ["is_decimal", "decimal_or_zero"]


def is_decimal(text: str) -> bool:
    return text.isascii() and text.isdigit()


def decimal_or_zero(text: object) -> int:
    value = str(text)
    return int(value) if is_decimal(value) else 0
