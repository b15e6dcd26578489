"""Kubernetes resource quantities for the admission plugins: exact values and canonical text.

A stand-in for ``impl/apiserver/quantity.py`` (written elsewhere at the same time); the plugins
need only ``parse_quantity``, ``quantity_format`` and ``format_quantity``, so switching over is
a change of import.

Rules (k8s.io/apimachinery ``pkg/api/resource/quantity.go``; API reference "Quantity"):

- Text is ``<sign><digits>[.<digits>]<suffix>``; suffixes are binary SI (``Ki Mi Gi Ti Pi Ei``,
  powers of 1024), decimal SI (``n u m "" k M G T P E``) or a decimal exponent (``e3``, ``E-2``).
  The suffix decides the format the value is printed back in.
- Values are exact (``Fraction``); anything finer than a nano-unit is rounded away from zero to
  the next nano-unit, as Kubernetes rounds ``0.1n`` up to ``1n``.
- Canonical text: decimal SI picks the largest power of 1000 that leaves an integer mantissa
  (``1500m``, ``2k``, ``500m``); binary SI the largest power of 1024, but falls back to decimal
  SI below 1024 or for a fraction (``512``, ``1536Mi``, ``1Gi``); a decimal exponent prints
  ``<mantissa>e<exponent>`` with the exponent a multiple of 3.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

__all__ = ["DECIMAL_SI", "BINARY_SI", "DECIMAL_EXPONENT", "parse_quantity", "quantity_format",
           "format_quantity", "canonical"]

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}
_NUMBER = re.compile(r"([+-]?)([0-9]+\.?[0-9]*|\.[0-9]+)(.*)")
_EXPONENT = re.compile(r"[eE]([+-]?[0-9]+)")
_NANO = Fraction(1, 10**9)
EXPONENT_ABS_MAX = 64  # a bound on 10**exponent, so a hostile "1e999999" cannot stall the server

FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def _split(text: str) -> tuple[int, Fraction, str]:
    match = _NUMBER.fullmatch(text.strip())
    if match is None:
        raise ValueError(FORMAT_ERROR)
    sign = -1 if match.group(1) == "-" else 1
    return sign, Fraction(match.group(2)), match.group(3)


def _scale(suffix: str) -> tuple[Fraction, str]:
    if suffix in _BINARY:
        return Fraction(2 ** _BINARY[suffix]), BINARY_SI
    if suffix in _DECIMAL:
        return Fraction(10) ** _DECIMAL[suffix], DECIMAL_SI
    match = _EXPONENT.fullmatch(suffix)
    if match is None or abs(int(match.group(1))) > EXPONENT_ABS_MAX:
        raise ValueError(FORMAT_ERROR)
    return Fraction(10) ** int(match.group(1)), DECIMAL_EXPONENT


def _round_to_nano(value: Fraction) -> Fraction:
    """Away from zero, as inf.RoundUp does."""
    nanos = value / _NANO
    whole = math.ceil(abs(nanos))
    return Fraction(whole if nanos >= 0 else -whole) * _NANO


def parse_quantity(text: str | int | float) -> Fraction:
    """``"500m"`` -> 1/2, ``"1Gi"`` -> 1073741824, ``"1e3"`` -> 1000. Raises ValueError."""
    if isinstance(text, bool):
        raise ValueError(FORMAT_ERROR)
    sign, number, suffix = _split(str(text))
    factor, _ = _scale(suffix)
    return _round_to_nano(sign * number * factor)


def quantity_format(text: str | int | float) -> str:
    """The format the text's suffix implies: DecimalSI, BinarySI or DecimalExponent."""
    _, _, suffix = _split(str(text))
    return _scale(suffix)[1]


def _decimal_parts(value: Fraction) -> tuple[int, int]:
    """(mantissa, exponent): exponent a multiple of 3 in -9..18, the largest with an integer mantissa."""
    for exponent in range(18, -12, -3):
        mantissa = value / Fraction(10) ** exponent
        if mantissa.denominator == 1:
            return int(mantissa), exponent
    raise AssertionError(f"{value} is not a whole number of nano-units")


def _binary_text(value: Fraction) -> str | None:
    if value.denominator != 1 or -1024 < value < 1024:
        return None
    whole, power = int(value), 0
    while power < 60 and whole % 1024 == 0:
        whole, power = whole // 1024, power + 10
    suffix = {10 * i: s for i, s in enumerate(("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))}[power]
    return f"{whole}{suffix}"


def format_quantity(value: Fraction | int, format: str = DECIMAL_SI) -> str:
    """Canonical text of ``value`` in ``format`` (Quantity.String())."""
    value = _round_to_nano(Fraction(value))
    if format == BINARY_SI:
        text = _binary_text(value)
        if text is not None:
            return text
        format = DECIMAL_SI
    if value == 0:
        return "0"
    mantissa, exponent = _decimal_parts(value)
    if format == DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"


def canonical(text: str | int | float) -> str:
    """The text Kubernetes prints back for ``text``: ``"0.5"`` -> ``"500m"``, ``"1024Mi"`` -> ``"1Gi"``."""
    return format_quantity(parse_quantity(text), quantity_format(text))
