import pytest

from tests.results.render.runs import build_compare


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory):
    """A comparison (3 folders × 3 styles × 12 prompts, fake brightness) saved with --out."""
    return build_compare(tmp_path_factory.mktemp("report"))
