"""Run the example scripts and check that each plot_ example saves its figure."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# test_estimators.py runs this one and checks its accuracy: not twice.
RUN_ELSEWHERE = {"stacked_lstm_digits.py"}
SCRIPTS = sorted(
    path.name for path in EXAMPLES.glob("*.py") if path.name not in RUN_ELSEWHERE
)


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs(name, tmp_path, monkeypatch):
    if name.startswith("plot_"):
        pytest.importorskip("matplotlib")
    monkeypatch.setenv("SKLSTM_EXAMPLES_OUTPUT", str(tmp_path))
    # Anything an example writes by mistake to the working directory lands here too.
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(EXAMPLES / name))
    if name.startswith("plot_"):
        written = list(tmp_path.iterdir())
        assert [path.suffix for path in written] == [".png"]
        assert written[0].stat().st_size > 0
