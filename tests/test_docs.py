"""The documentation covers the public API (its build runs in .ci/run)."""

import contextlib
import io
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


# ---------------------------------------------------------------------------
# Pages whose code a newcomer runs as written: every ```python block runs, in
# order and in one namespace, without a warning, and prints what the ```text
# block after it says (numbers with a decimal point within ABS_TOLERANCE: the
# figures of another instruction set's kernels round differently; anything
# else exactly).
RUNNABLE_PAGES = ["docs/getting_started.md", "README.md"]
ABS_TOLERANCE = 0.03
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
NUMBER = re.compile(r"-?\d+\.\d*|-?\d+")


def code_and_output(text):
    """(python code, the text block printed after it, or None) in page order."""
    blocks = [(m.group(1), m.group(2)) for m in BLOCK.finditer(text)]
    pairs = []
    for i, (language, code) in enumerate(blocks):
        if language == "python":
            after = blocks[i + 1] if i + 1 < len(blocks) else (None, None)
            pairs.append((code, after[1] if after[0] == "text" else None))
    return pairs


def assert_prints(actual, expected):
    """Same words and punctuation; numbers within the tolerance."""
    words_actual, words_expected = (
        NUMBER.sub("#", " ".join(s.split())) for s in (actual, expected)
    )
    assert words_actual == words_expected, (actual, expected)
    for got, want in zip(NUMBER.findall(actual), NUMBER.findall(expected)):
        if "." in want:
            assert abs(float(got) - float(want)) <= ABS_TOLERANCE, (got, want)
        else:
            assert got == want, (actual, expected)


def test_assert_prints_compares_words_exactly_and_decimals_loosely():
    assert_prints("accuracy: 0.951 [5 2]", "accuracy:  0.962\n[5 2]")
    for wrong in ["accuracy: 0.900 [5 2]", "accuracy: 0.962 [5 3]", "acc: 0.962 [5 2]"]:
        with pytest.raises(AssertionError):
            assert_prints(wrong, "accuracy: 0.962 [5 2]")


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_page_code_runs_and_prints_what_the_page_says(page, tmp_path, monkeypatch):
    path = DOCS.parent / page
    if not path.is_file():
        pytest.skip(f"needs the repository's {page}")
    pairs = code_and_output(path.read_text())
    assert pairs, f"{page} has no python code block"
    assert any(expected for _, expected in pairs), f"{page} shows no output"
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__page__"}
    for code, expected in pairs:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, page, "exec"), namespace)
        if expected is not None:
            assert_prints(out.getvalue(), expected)
        else:
            assert out.getvalue() == "", "a block that prints shows its output"
