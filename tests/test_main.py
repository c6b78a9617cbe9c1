"""``python -m sklstm`` runs its demo."""

import subprocess
import sys

import pytest

from sklstm.__main__ import main


def test_demo_prints_progress_and_a_good_score(capsys):
    accuracy = main(["--epochs", "8", "--verbose"])
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out
    assert "Iteration 8, loss = " in out
    assert "Trained 8 epochs" in out and "reached --epochs 8" in out
    assert "Held-out accuracy: " in out
    assert accuracy > 0.75  # 8 epochs: a budget, not the trained model


def test_demo_at_the_defaults_stops_by_itself_and_is_quiet(capsys):
    # The getting-started page's first model: its figure is pinned by
    # test_docs.py; here, that the demo trains the same model.
    accuracy = main([])
    out = capsys.readouterr().out
    assert "Iteration" not in out
    assert "the loss stopped improving" in out
    assert accuracy > 0.94


def test_module_entry_point(tmp_path):
    # Run from elsewhere, so that the installed package is the one imported.
    result = subprocess.run(
        [sys.executable, "-m", "sklstm", "--epochs", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Held-out accuracy" in result.stdout


def test_bad_epochs_is_a_usage_error():
    with pytest.raises(SystemExit):
        main(["--epochs", "0"])
