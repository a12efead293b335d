"""``pytest.approx`` in the place of a float inside a structure that is compared whole."""

from typing import cast

import pytest


def about(expected: float) -> float:
    """A value equal to any float within pytest's default tolerance of ``expected``.

    ``pytest.approx`` returns a comparison object, not a float; a test that puts it in an
    expected dataclass or tuple (so that one ``==`` checks every field at once) declares
    it as the float it stands in for, which is how the comparison treats it.
    """
    return cast(float, pytest.approx(expected))
