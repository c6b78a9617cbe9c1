"""The documentation covers the public API (its build runs in .ci/run)."""

import re
from pathlib import Path

import pytest

import sklstm

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.skipif(not DOCS.is_dir(), reason="needs the repository's docs/")
def test_api_reference_has_a_page_for_every_public_name():
    listed = set(re.findall(r"^   (\w+)$", (DOCS / "api.rst").read_text(), re.M))
    public = set(sklstm.__all__) - {"__version__"}
    assert public <= listed
    sklstm_onnx = pytest.importorskip("sklstm.onnx")
    assert set(sklstm_onnx.__all__) <= listed
