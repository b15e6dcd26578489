from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from impl.apiserver.admission.quantities import canonical, format_quantity, parse_quantity, quantity_format


@pytest.mark.parametrize("text,value", [
    ("500m", Fraction(1, 2)), ("1", 1), ("1k", 1000), ("2M", 2 * 10**6), ("1G", 10**9), ("1T", 10**12),
    ("1P", 10**15), ("1E", 10**18), ("1Ki", 1024), ("1Mi", 2**20), ("1.5Gi", 3 * 2**29), ("1Ti", 2**40),
    ("1Pi", 2**50), ("1Ei", 2**60), ("1e3", 1000), ("1E-3", Fraction(1, 1000)), ("-2", -2), (".5", Fraction(1, 2)),
    ("100u", Fraction(1, 10**4)), ("5n", Fraction(5, 10**9)), ("0.1n", Fraction(1, 10**9)), (3, 3),
])
def test_parse(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1Qi", "1.2.3", "Mi", "1e", "1 Gi x"])
def test_parse_refuses_malformed(text):
    with pytest.raises(ValueError, match="quantities must match"):
        parse_quantity(text)


@pytest.mark.parametrize("text,shown", [
    ("0.5", "500m"), ("1500m", "1500m"), ("2000m", "2"), ("1000", "1k"), ("1500", "1500"), ("1024Mi", "1Gi"),
    ("1536Mi", "1536Mi"), ("512Ki", "512Ki"), ("0.5Ki", "512"), ("1e3", "1e3"), ("1500e0", "1500"), ("0", "0"),
])
def test_canonical(text, shown):
    assert canonical(text) == shown


def test_format_and_format_of():
    assert quantity_format("1Gi") == "BinarySI" and quantity_format("1e3") == "DecimalExponent"
    assert quantity_format("1G") == "DecimalSI"
    assert format_quantity(Fraction(3, 2) * 2**30, "BinarySI") == "1536Mi"
    assert format_quantity(Fraction(1, 3)) == "333333334n"  # rounded up to the next nano


@given(st.integers(-10**12, 10**12), st.sampled_from(["DecimalSI", "BinarySI", "DecimalExponent"]))
def test_format_parses_back(nanos, fmt):
    value = Fraction(nanos, 10**6)
    assert parse_quantity(format_quantity(value, fmt)) == value
