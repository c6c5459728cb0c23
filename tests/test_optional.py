import pytest

from genmetrics.errors import UserError
from genmetrics.optional import require


def test_missing_optional_package_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)  # import then fails as if absent
    with pytest.raises(UserError, match=r"clip_score needs .*'transformers'.*genmetrics\[clip\]"):
        require("transformers", "clip_score")


def test_present_package_is_returned():
    assert require("numpy", "x").__name__ == "numpy"
