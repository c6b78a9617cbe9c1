"""SequenceScaler and make_windows."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import TimeSeriesSplit, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklstm import LSTMClassifier, LSTMRegressor
from sklstm.preprocessing import (
    SequenceImputer,
    SequencePatcher,
    SequenceScaler,
    make_windows,
)


def _sequences(n_samples=20, n_timesteps=7, n_features=4, seed=0):
    """3-D data whose features have very different means and scales."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_timesteps, n_features))
    return X * [1.0, 10.0, 0.1, 3.0][:n_features] + [0.0, -5.0, 100.0, 2.0][:n_features]


# --- SequenceScaler ---------------------------------------------------------------


@parametrize_with_checks(
    [
        SequenceScaler(),
        SequenceScaler(with_mean=False),
        SequenceScaler(dtype=np.float32),
        SequenceImputer(),
        SequenceImputer(strategy="mean", add_indicator=True),
        SequenceImputer(strategy="constant", fill_value=-1.0, add_indicator=True),
        SequencePatcher(),
        SequencePatcher(patch_length=3, stride=1),
    ]
)
def test_sklearn_compatible_transformer(estimator, check):
    check(estimator)


def test_tags_declare_3d_input_and_preserved_dtypes():
    tags = get_tags(SequenceScaler())
    assert tags.input_tags.three_d_array
    assert tags.transformer_tags.preserves_dtype == ["float64", "float32"]


@pytest.mark.parametrize("with_mean", [True, False])
@pytest.mark.parametrize("with_std", [True, False])
def test_3d_matches_standard_scaler_on_flattened_steps(with_mean, with_std):
    X = _sequences()
    X[:, :, 2] = 7.0  # a constant feature gets scale 1, as in StandardScaler
    params = dict(with_mean=with_mean, with_std=with_std)
    rows = X.reshape(-1, X.shape[2])
    ref = StandardScaler(**params).fit(rows)

    scaler = SequenceScaler(**params).fit(X)

    assert scaler.n_features_in_ == 4
    assert_allclose(scaler.transform(X), ref.transform(rows).reshape(X.shape))
    for attr in ("mean_", "var_", "scale_"):
        expected = getattr(ref, attr)
        if expected is None:
            assert getattr(scaler, attr) is None
        else:
            assert_allclose(getattr(scaler, attr), expected, rtol=1e-12)
    if with_std:
        assert scaler.scale_[2] == 1.0


def test_2d_input_is_sequences_of_one_step_and_keeps_its_shape():
    X = _sequences()[:, 0, :]
    scaler = SequenceScaler().fit(X)
    Xt = scaler.transform(X)
    assert Xt.shape == X.shape
    assert_allclose(Xt, StandardScaler().fit_transform(X))
    assert_allclose(scaler.transform(X[:, None, :]), Xt[:, None, :])


def test_transform_takes_another_number_of_time_steps():
    X = _sequences()
    scaler = SequenceScaler().fit(X)
    X_long = _sequences(n_samples=3, n_timesteps=11, seed=1)
    assert_allclose(scaler.transform(X_long), (X_long - scaler.mean_) / scaler.scale_)


def _ragged(n_features=4):
    X = _sequences(n_samples=1, n_timesteps=30, n_features=n_features)[0]
    return [X[:5], X[5:6], X[6:]]


def test_ragged_list_equals_the_concatenated_computation():
    X = _ragged()
    rows = np.concatenate(X)
    ref = StandardScaler().fit(rows)

    scaler = SequenceScaler().fit(X)
    Xt = scaler.transform(X)

    assert isinstance(Xt, list)
    assert [x.shape for x in Xt] == [x.shape for x in X]
    assert_allclose(np.concatenate(Xt), ref.transform(rows))
    assert_allclose(scaler.mean_, ref.mean_, rtol=1e-12)
    assert_allclose(scaler.scale_, ref.scale_, rtol=1e-12)
    # One sequence holding the same rows is scaled the same way.
    assert_allclose(SequenceScaler().fit_transform(rows[None])[0], np.concatenate(Xt))


@pytest.mark.parametrize("with_mean", [True, False])
@pytest.mark.parametrize("with_std", [True, False])
def test_inverse_transform_round_trip(with_mean, with_std):
    scaler = SequenceScaler(with_mean=with_mean, with_std=with_std)
    X = _sequences()
    assert_allclose(scaler.inverse_transform(scaler.fit_transform(X)), X)
    assert_allclose(scaler.inverse_transform(scaler.transform(X[:, 0])), X[:, 0])
    X_list = [x[: i + 1] for i, x in enumerate(X[:4])]
    back = scaler.inverse_transform(scaler.transform(X_list))
    for x, x_back in zip(X_list, back):
        assert_allclose(x_back, x)


def test_transform_of_test_data_uses_the_training_statistics():
    X_train = _sequences(seed=0)
    X_test = _sequences(seed=1) + 50.0  # shifted: its own statistics would differ
    scaler = SequenceScaler().fit(X_train)
    rows = X_train.reshape(-1, 4)
    expected = (X_test - rows.mean(axis=0)) / rows.std(axis=0)
    assert_allclose(scaler.transform(X_test), expected)
    assert_allclose(scaler.mean_, rows.mean(axis=0))  # transform refits nothing


@pytest.mark.parametrize("three_d", [True, False], ids=["3d", "2d"])
def test_float32_stays_float32(three_d):
    X = _sequences(n_features=2)  # features with |mean| / std <= 1: x - mean_
    X = X if three_d else X[:, 0]  # loses no float32 precision
    X32 = X.astype(np.float32)
    scaler = SequenceScaler().fit(X32)
    Xt = scaler.transform(X32)
    assert Xt.dtype == np.float32
    assert scaler.fit_transform(X32).dtype == np.float32
    assert scaler.inverse_transform(Xt).dtype == np.float32
    assert_allclose(Xt, SequenceScaler().fit_transform(X), rtol=1e-5, atol=1e-6)
    X_list = [x.astype(np.float32) for x in _ragged(n_features=2)]
    assert all(x.dtype == np.float32 for x in scaler.transform(X_list))
    assert all(x.dtype == np.float32 for x in scaler.inverse_transform(X_list))


@pytest.mark.parametrize("dtype", [np.float32, "float32", np.dtype(np.float32)])
def test_dtype_sets_the_output_type_and_the_model_follows(dtype):
    # float64 data scaled into float32: the values of the float64 transform,
    # cast, for arrays and lists; an LSTM after it in a Pipeline trains in float32.
    X, X_list = _sequences(n_features=2), _ragged(n_features=2)
    scaler = SequenceScaler(dtype=dtype).fit(X)
    plain = SequenceScaler().fit(X)
    Xt = scaler.transform(X)
    assert Xt.dtype == np.float32
    assert_array_equal(Xt, plain.transform(X).astype(np.float32))
    for x, expected in zip(scaler.transform(X_list), plain.transform(X_list)):
        assert x.dtype == np.float32
        assert_array_equal(x, expected.astype(np.float32))
    assert get_tags(scaler).transformer_tags.preserves_dtype == ["float32"]
    y = (X[:, -1, 0] > 0).astype(int)
    model = make_pipeline(
        SequenceScaler(dtype=dtype), LSTMClassifier(hidden_layer_sizes=(4,), max_iter=2)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert model[-1].get_weights()[0].dtype == np.float32


@pytest.mark.parametrize("dtype", [np.int64, "float16", np.dtype("complex64")])
def test_dtype_other_than_float32_or_float64_is_a_clear_error(dtype):
    with pytest.raises((ValueError, TypeError), match="dtype"):
        SequenceScaler(dtype=dtype).fit(_sequences())


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[[1.0, np.inf]]]), "Input X contains infinity"),
        ([np.ones((2, 2)), np.array([[1.0, np.inf]])], r"Input X\[1\] contains inf"),
        (np.ones(5), r"Expected a 3-D array .* got a 1-D array of shape \(5,\)"),
        (np.ones((2, 3, 4, 5)), "got a 4-D array of shape"),
        ([], "X is empty"),
        (np.ones((0, 3, 2)), r"Found array with 0 sample\(s\)"),
        (np.ones((4, 0, 2)), r"Found array with shape \(4, 0, 2\)"),
        (np.ones((4, 3, 0)), r"Found array with shape \(4, 3, 0\)"),
        ([np.ones((2, 3)), np.ones((4, 2))], "X\\[0\\] has 3, X\\[1\\] has 2"),
        ([np.ones((2, 3)), np.ones(3)], r"X\[1\] has shape \(3,\)"),
        ([np.ones((2, 3)), np.ones((2, 2, 3))], r"X\[1\] has shape \(2, 2, 3\)"),
        ([np.ones((2, 3)), np.ones((0, 3))], r"X\[1\] has shape \(0, 3\)"),
    ],
    ids=[
        "inf",
        "inf-in-list",
        "1d",
        "4d",
        "empty-list",
        "no-samples",
        "no-steps",
        "no-features",
        "mixed-features",
        "1d-element",
        "3d-element",
        "empty-element",
    ],
)
def test_invalid_input_is_a_clear_value_error(X, match):
    with pytest.raises(ValueError, match=match):
        SequenceScaler().fit(X)
    fitted = SequenceScaler().fit(np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match=match):
        fitted.transform(X)


@pytest.mark.parametrize(
    "X",
    [np.ones((2, 5, 3)), np.ones((2, 3)), [np.ones((5, 3)), np.ones((2, 3))]],
    ids=["3d", "2d", "list"],
)
@pytest.mark.parametrize("method", ["transform", "inverse_transform"])
def test_another_number_of_features_uses_sklearn_wording(X, method):
    scaler = SequenceScaler().fit(_sequences())
    msg = "X has 3 features, but SequenceScaler is expecting 4 features as input."
    with pytest.raises(ValueError, match=msg):
        getattr(scaler, method)(X)


def test_refit_on_a_list_forgets_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(_sequences()[:, 0], columns=["a", "b", "c", "d"])
    scaler = SequenceScaler().fit(X)
    assert list(scaler.feature_names_in_) == ["a", "b", "c", "d"]
    scaler.fit(_ragged())
    assert not hasattr(scaler, "feature_names_in_")


# --- make_windows -----------------------------------------------------------------


def test_make_windows_hand_built_example():
    X, y, index = make_windows(
        np.arange(10), window=3, horizon=2, step=2, return_index=True
    )
    # Windows start at 0, 2, 4; time step 9 does not fill another step.
    assert_array_equal(
        X,
        [
            [[0], [1], [2]],
            [[2], [3], [4]],
            [[4], [5], [6]],
        ],
    )
    assert_array_equal(y, [[3, 4], [5, 6], [7, 8]])
    assert_array_equal(index, [3, 5, 7])
    assert X.dtype == y.dtype == np.float64


def test_make_windows_several_features_and_targets():
    series = 10.0 * np.arange(6)[:, None] + np.arange(3)  # series[t, f] = 10 t + f
    X, y = make_windows(series, window=2, horizon=2, target=[2, 0])
    assert_array_equal(
        X,
        [
            [[0, 1, 2], [10, 11, 12]],
            [[10, 11, 12], [20, 21, 22]],
            [[20, 21, 22], [30, 31, 32]],
        ],
    )
    # Time-major: (step 1: column 2, column 0), then (step 2: column 2, column 0).
    assert_array_equal(y, [[22, 20, 32, 30], [32, 30, 42, 40], [42, 40, 52, 50]])

    # An int target gives (n_windows, horizon); None is column 0.
    _, y_int = make_windows(series, window=2, horizon=2, target=-1)
    assert_array_equal(y_int, y[:, [0, 2]])
    _, y_none = make_windows(series, window=2, horizon=2)
    assert_array_equal(y_none, y[:, [1, 3]])
    assert y_none.shape == (3, 2)


@pytest.mark.parametrize(
    "n_times, window, horizon, step", [(10, 3, 2, 2), (50, 7, 3, 1), (50, 1, 1, 5)]
)
def test_make_windows_index_and_no_look_ahead(n_times, window, horizon, step):
    # Each value is its own time index, so the values tell where they come from.
    times = np.arange(n_times)
    series = np.column_stack([times, times, times])
    X, y, index = make_windows(
        series, window, horizon, step, target=[0, 2], return_index=True
    )
    n_windows = (n_times - window - horizon) // step + 1
    assert X.shape == (n_windows, window, 3)
    assert y.shape == (n_windows, horizon * 2)
    assert X.flags.c_contiguous and X.flags.writeable
    assert_array_equal(index, window + step * np.arange(n_windows))
    # The first target of each window is at index, the window ends just before.
    assert_array_equal(y[:, 0], index)
    assert_array_equal(X[:, -1, 0], index - 1)
    assert_array_equal(y.reshape(n_windows, horizon, 2)[:, -1, 1], index + horizon - 1)
    # No look-ahead: every target lies after every input of its window.
    assert (y.min(axis=1) > X.max(axis=(1, 2))).all()


def test_make_windows_copies_and_accepts_read_only_and_pandas_input():
    pd = pytest.importorskip("pandas")
    series = np.arange(4.0)[:, None]
    series.flags.writeable = False
    X, y = make_windows(series, window=3)  # one window: could have been a view
    assert X.flags.writeable and not np.shares_memory(X, series)
    frame = pd.DataFrame({"a": np.arange(6.0), "b": -np.arange(6.0)})
    X_df, y_df = make_windows(frame, window=2, target=1)
    X_np, y_np = make_windows(frame.to_numpy(), window=2, target=1)
    assert_array_equal(X_df, X_np)
    assert_array_equal(y_df, y_np)
    assert_array_equal(make_windows(frame["a"], window=2)[1], y_np * -1)


def test_make_windows_keeps_float32():
    X, y = make_windows(np.arange(10, dtype=np.float32), window=3)
    assert X.dtype == y.dtype == np.float32


@pytest.mark.parametrize(
    "series, params, match",
    [
        (np.arange(10.0), dict(window=0), "'window' parameter .* range \\[1, inf\\)"),
        (np.arange(10.0), dict(window=3, horizon=0), "'horizon' parameter"),
        (np.arange(10.0), dict(window=3, step=0), "'step' parameter"),
        (
            np.arange(10.0),
            dict(window=8, horizon=3),
            "series has 10 time steps; window=8 plus horizon=3 needs at least 11",
        ),
        (np.array([]), dict(window=2), "series has 0 time steps; window=2 plus"),
        (np.ones((0, 3)), dict(window=2), "series has 0 time steps; window=2 plus"),
        (np.array([0.0, 1.0, np.nan, 3.0]), dict(window=2), "series contains NaN"),
        (np.array([0.0, np.inf, 2.0, 3.0]), dict(window=2), "contains infinity"),
        (np.array(5.0), dict(window=1), "got a 0-D array"),
        (np.ones((10, 2, 2)), dict(window=2), "got a 3-D array of shape"),
        (np.ones((10, 2)), dict(window=2, target=2), "target column 2 is out of"),
        (np.ones((10, 2)), dict(window=2, target=[0, -3]), "target column -3 is"),
        (np.ones((10, 2)), dict(window=2, target=[]), "non-empty list of ints"),
        (np.ones((10, 2)), dict(window=2, target=[0.5]), "non-empty list of ints"),
    ],
    ids=[
        "window",
        "horizon",
        "step",
        "too-short",
        "empty",
        "empty-2d",
        "nan",
        "inf",
        "0d",
        "3d",
        "target",
        "targets",
        "no-target",
        "float-target",
    ],
)
def test_make_windows_invalid_input_is_a_clear_value_error(series, params, match):
    with pytest.raises(ValueError, match=match):
        make_windows(series, **params)


# --- Both, in a forecasting pipeline ---------------------------------------------


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_pipeline_forecasts_a_noisy_sine_under_time_series_cv():
    rng = np.random.RandomState(0)
    t = np.arange(400)
    # The target column is a noisy unit sine; the second feature, on a scale a
    # hundred times larger, is what SequenceScaler has to bring into range.
    series = np.column_stack(
        [np.sin(2 * np.pi * t / 25), 100.0 + 30.0 * np.cos(2 * np.pi * t / 40)]
    )
    series[:, 0] += rng.normal(scale=0.1, size=t.size)
    X, y = make_windows(series, window=12, horizon=2, step=1)
    pipe = make_pipeline(
        SequenceScaler(),
        LSTMRegressor(
            hidden_layer_sizes=(8,),
            max_iter=30,
            random_state=0,
            learning_rate_init=0.01,
        ),
    )
    # gap=horizon - 1: no test target was also a training target.
    scores = cross_val_score(pipe, X, y, cv=TimeSeriesSplit(n_splits=2, gap=1))
    # About 0.95 here; without the scaler the same network scores about 0.1.
    assert (scores > 0.5).all(), scores
