"""``python -m sklstm`` runs its demo."""

import subprocess
import sys

import pytest

from sklstm.__main__ import main


def test_demo_prints_progress_and_a_good_score(capsys):
    accuracy = main(["--epochs", "8"])
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out
    assert "Iteration 8, loss = " in out
    assert "Held-out accuracy: " in out
    assert accuracy > 0.85


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
