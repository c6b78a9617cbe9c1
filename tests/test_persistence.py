"""Pickles carry the sklstm version, and today's pickles keep loading."""

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

import sklstm
from sklstm import InconsistentVersionWarning, LSTMClassifier

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("models_*.pkl"))


def test_there_is_a_fixture_of_this_release_line():
    assert any(path.name == "models_0.1.0.pkl" for path in FIXTURES)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda path: path.name)
def test_old_pickles_load_and_predict_as_they_did(path):
    with warnings.catch_warnings():
        # Models from another version load with InconsistentVersionWarning.
        warnings.simplefilter("ignore", InconsistentVersionWarning)
        fixture = pickle.loads(path.read_bytes())
    inputs = {"classifier": fixture["X"], "bidirectional_regressor": fixture["ragged"]}
    for name, (model, expected) in fixture["models"].items():
        method = model.predict_proba if name == "classifier" else model.predict
        assert_allclose(method(inputs[name]), expected, rtol=1e-6, atol=1e-7)


def test_pickles_carry_the_version_and_warn_across_versions():
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(20, 3, 2)), np.arange(20) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LSTMClassifier(hidden_layer_sizes=(3,), max_iter=1).fit(X, y)
    state = model.__getstate__()
    assert state["_sklstm_version"] == sklstm.__version__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pickle.loads(pickle.dumps(model))  # same version: silent
    state["_sklstm_version"] = "0.0.1"
    restored = LSTMClassifier.__new__(LSTMClassifier)
    with pytest.warns(InconsistentVersionWarning, match="from sklstm version 0.0.1"):
        restored.__setstate__(state)
    assert_allclose(restored.predict_proba(X), model.predict_proba(X))
