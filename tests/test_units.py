import pytest

from sim.model.units import format_duration, parse_duration_s


@pytest.mark.parametrize("text, seconds", [
    ("45s", 45), ("2m", 120), ("1.5h", 5400), ("250ms", 0.25), ("3d", 259200), ("1w", 604800),
    ("17m30s", 1050), ("1h 30m", 5400), (90, 90), (2.5, 2.5), ("10", 10),
])
def test_parse_duration(text, seconds):
    assert parse_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "abc", "5 parsecs", "1h-", None, True, [1]])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration_s(bad)


def test_format_duration_is_readable():
    assert format_duration(45) == "45s"
    assert format_duration(0.25) == "250ms"
    assert format_duration(1800) == "30m"
    assert format_duration(3 * 86400) == "3d"
