import re

import pytest

from asyncaction.manifests.naming import bounded_name, label_value, short_hash

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def test_short_names_are_kept_as_they_are() -> None:
    assert bounded_name("resize", "-job-secret") == "resize-job-secret"
    assert label_value("resize") == "resize"


def test_long_name_is_cut_hashed_and_fits() -> None:
    base = "a" * 250
    name = bounded_name(base, "-job-secret")
    assert len(name) == 253
    assert name.endswith(f"-{short_hash(base)}-job-secret")
    assert DNS_SUBDOMAIN.match(name)


def test_long_names_with_a_common_prefix_stay_distinct() -> None:
    first, second = "x" * 300 + "1", "x" * 300 + "2"
    assert label_value(first) != label_value(second)
    assert len(label_value(first)) == 63


def test_cut_never_leaves_a_separator_before_the_hash() -> None:
    base = "a" * 53 + "." + "b" * 20  # the cut for a label value falls just after the dot
    value = label_value(base)
    assert ".-" not in value
    assert DNS_SUBDOMAIN.match(value)


def test_same_input_gives_same_name() -> None:
    base = "n" * 400
    assert bounded_name(base, ".x") == bounded_name(base, ".x")


def test_suffix_too_long_for_limit_is_an_error() -> None:
    with pytest.raises(ValueError, match="no room"):
        bounded_name("a" * 10, "-" * 60, limit=63)


def test_the_bounds_are_inclusive() -> None:
    assert bounded_name("a" * 10) == "a" * 10  # no suffix by default
    assert bounded_name("a" * 6, "-x", limit=8) == "a" * 6 + "-x"  # exactly the limit
    # one over: cut to what leaves room for '-', the hash and the suffix
    assert bounded_name("a" * 11, "-x", limit=12) == "a-" + short_hash("a" * 11) + "-x"
    # room for exactly one character of the base
    assert bounded_name("b" * 20, "", limit=10) == "b-" + short_hash("b" * 20)
    with pytest.raises(ValueError, match="leaves no room within 9 characters"):
        bounded_name("b" * 20, "", limit=9)


def test_a_base_cut_to_nothing_but_separators_keeps_only_the_hash() -> None:
    assert bounded_name("-" * 20, "-s", limit=12) == short_hash("-" * 20) + "-s"
