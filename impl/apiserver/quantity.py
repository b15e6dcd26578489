"""Resource quantities (``500m``, ``2Gi``, ``1e3``) as exact fractions.

Source: k8s.io/apimachinery ``pkg/api/resource/quantity.go`` (the grammar, the suffixes and the
error messages). Values are ``fractions.Fraction`` so comparisons are exact (``1Gi`` > ``1G``,
``0.1`` == ``100m``). ``format_quantity`` writes the canonical form: the largest suffix that keeps
the number whole, binary (Ki..Ei) when asked for and exact, otherwise decimal; values finer than a
nano round away from zero to the next nano, as Kubernetes rounds.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["parse_quantity", "format_quantity", "is_binary_quantity", "QUANTITY_FORMAT_MESSAGE"]

QUANTITY_FORMAT_MESSAGE = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
QUANTITY_SUFFIX_MESSAGE = "unable to parse quantity's suffix"
QUANTITY_TEXT_LENGTH_MAX = 100  # a bound on the text; real quantities are a few characters

_GRAMMAR = re.compile(r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))([eEinumkKMGTP]*[-+]?[0-9]*)")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}  # powers of 1024
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}  # powers of 10
_EXPONENT = re.compile(r"[eE][-+]?[0-9]+")
_EXPONENT_MAX = 100  # beyond any resource; keeps 10**n small


def _multiplier(suffix: str) -> Fraction:
    if suffix in _BINARY:
        return Fraction(1024) ** _BINARY[suffix]
    if suffix in _DECIMAL:
        return Fraction(10) ** _DECIMAL[suffix]
    if _EXPONENT.fullmatch(suffix) and abs(int(suffix[1:])) <= _EXPONENT_MAX:
        return Fraction(10) ** int(suffix[1:])
    raise ValueError(QUANTITY_SUFFIX_MESSAGE)


def parse_quantity(text: str) -> Fraction:
    """The exact value of a quantity; ValueError with Kubernetes' message when it is not one."""
    if not isinstance(text, str):
        text = str(text)  # an integer in YAML (cpu: 2) is a quantity too
    match = _GRAMMAR.fullmatch(text) if len(text) <= QUANTITY_TEXT_LENGTH_MAX else None
    if match is None:
        raise ValueError(QUANTITY_FORMAT_MESSAGE)
    return Fraction(match.group(1)) * _multiplier(match.group(2))


def is_binary_quantity(text: str) -> bool:
    return str(text).endswith(tuple(_BINARY))


def format_quantity(value: Fraction | int, binary: bool = False) -> str:
    value = Fraction(value)
    if value < 0:
        return "-" + format_quantity(-value, binary)
    if value == 0:
        return "0"
    if binary and value.denominator == 1:
        for suffix, power in sorted(_BINARY.items(), key=lambda item: -item[1]):
            if value % (1024 ** power) == 0:
                return f"{value // 1024 ** power}{suffix}"
    nanos = -(-value * 10 ** 9 // 1)  # ceiling to whole nanos
    for suffix, power in sorted(_DECIMAL.items(), key=lambda item: -item[1]):
        if nanos % (10 ** (power + 9)) == 0:
            return f"{nanos // 10 ** (power + 9)}{suffix}"
    raise AssertionError(value)  # unreachable: the "n" suffix divides every whole number of nanos
