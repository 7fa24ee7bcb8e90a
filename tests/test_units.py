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


# --------------------------------------------------------------------------- the grammar people write
# Expected values by hand: 1 h = 3,600 s, 1 min = 60 s, 1 d = 86,400 s, 1 w = 604,800 s.

@pytest.mark.parametrize("text, seconds", [
    ("2 hours", 7200), ("90 minutes", 5400), ("1h30m", 5400), ("1.5h", 5400), ("PT2H", 7200),
    ("1 hour 30 minutes", 5400), ("1 hour, 30 minutes", 5400), ("2 Hours", 7200), ("45 sec", 45),
    ("30 seconds", 30), ("2 mins", 120), ("3 days", 259200), ("2 weeks", 1209600), ("1.5 hrs", 5400),
    ("500 milliseconds", 0.5), ("PT1H30M", 5400), ("PT45S", 45), ("PT0.25S", 0.25), ("P1DT12H", 129600),
    ("P1W", 604800), ("pt2h", 7200), ("1d", 86400), ("17m30s", 1050),
])
def test_accepted_spellings(text, seconds):
    assert parse_duration_s(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("text, seconds", [
    # the spellings in the bundled scenarios keep their exact float values (byte-identical tables)
    ("45s", 45.0), ("2m", 120.0), ("1.5h", 5400.0), ("250ms", 0.25), ("17m30s", 1050.0), ("1d", 86400.0),
    ("1w", 604800.0), ("10ms", 0.01), ("0.1h", 0.1 * 3600.0), ("4h", 14400.0),
])
def test_existing_spellings_are_unchanged(text, seconds):
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text, why", [
    ("5M", "ambiguous: a capital 'M' means minutes to some tools and months"),
    ("2 months", "months and years have no fixed length"),
    ("1y", "months and years have no fixed length"),
    ("3 years", "months and years have no fixed length"),
    ("P1M", "months and years have no fixed length"),
    ("P1Y2D", "months and years have no fixed length"),
    ("PT2X", "cannot read ISO 8601 duration"),
    ("1h,", "cannot read duration"),
])
def test_ambiguous_or_unreadable_spellings_are_rejected_with_the_reason(text, why):
    with pytest.raises(ValueError, match=why):
        parse_duration_s(text)


def test_a_scenario_file_with_5M_is_rejected_naming_the_key(tmp_path):
    from sim.errors import ScenarioError
    from sim.model.scenario import load_scenario

    path = tmp_path / "s.toml"
    path.write_text('name = "x"\n[[steps]]\nname = "a"\nkind = "gpu"\nprice_per_hour = 1.0\nduration = "5M"\n')
    with pytest.raises(ScenarioError, match=r"key 'steps\[0\]\(a\)\.duration'.*ambiguous"):
        load_scenario(path)
