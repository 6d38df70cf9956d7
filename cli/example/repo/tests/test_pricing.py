import pytest

from pricing import apply_discount, total


def test_no_discount():
    assert apply_discount(80.0, 0) == 80.0


def test_ten_percent_off():
    assert apply_discount(80.0, 10) == 72.0


def test_total_with_discount():
    assert total([10.0, 30.0], 25) == 30.0


def test_rejects_negative_percent():
    with pytest.raises(ValueError):
        apply_discount(10.0, -5)
