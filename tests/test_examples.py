"""Run the example scripts and check that each plot_ example saves its figure."""

import os
import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# test_estimators.py runs this one and checks its accuracy: not twice.
RUN_ELSEWHERE = {"stacked_lstm_digits.py"}
# Modules from optional extras that an example needs.
REQUIRES = {
    "plot_distributed_search.py": ("distributed",),
    "plot_deployment.py": ("onnxruntime", "skl2onnx", "skops"),
}
SCRIPTS = sorted(
    path.name for path in EXAMPLES.glob("*.py") if path.name not in RUN_ELSEWHERE
)


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs(name, tmp_path, monkeypatch):
    if name.startswith("plot_"):
        pytest.importorskip("matplotlib")
    for module in REQUIRES.get(name, ()):
        pytest.importorskip(module)
    monkeypatch.setenv("SKLSTM_EXAMPLES_OUTPUT", str(tmp_path))
    # Anything an example writes by mistake to the working directory lands here too.
    monkeypatch.chdir(tmp_path)
    # Dask's nannies set OMP_NUM_THREADS=1 and more in this process's environment
    # before they start their workers; later subprocesses must not inherit that.
    environ = os.environ.copy()
    try:
        # As scripts are run, so that the work under if __name__ == "__main__"
        # runs here and not again in the worker processes that re-import them.
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    finally:
        os.environ.clear()
        os.environ.update(environ)
        if "matplotlib.pyplot" in sys.modules:
            # The examples leave their figure open, for the gallery to show.
            sys.modules["matplotlib.pyplot"].close("all")
    if name.startswith("plot_"):
        written = list(tmp_path.iterdir())
        assert [path.suffix for path in written] == [".png"]
        assert written[0].stat().st_size > 0
