"""Bad input at every entry point: a ValueError or TypeError that names the problem;
unusual but valid input: the same result as a plain float64 array.

Each kind of input is crossed with every entry point it applies to: fit,
partial_fit, predict, predict_proba, predict_log_proba and score of the classifier,
fit, partial_fit, predict and score of the regressor, and set_weights. The pairs
that test_estimators.py, test_ragged.py and test_solvers_and_targets.py check
already are left out (the ``COVERED_*`` tables name them).
"""

import copy
import functools

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import accuracy_score, r2_score

from sklstm import LSTMClassifier, LSTMRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N_SAMPLES, N_STEPS, N_FEATURES = 20, 5, 3
ENTRY_POINTS = [
    (LSTMClassifier, method)
    for method in (
        "fit",
        "partial_fit",
        "predict",
        "predict_proba",
        "predict_log_proba",
        "score",
    )
] + [(LSTMRegressor, method) for method in ("fit", "partial_fit", "predict", "score")]
WITH_Y = ("fit", "partial_fit", "score")
NAME = r"LSTM(Classifier|Regressor)"


def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(N_SAMPLES, N_STEPS, N_FEATURES))
    return X, np.arange(N_SAMPLES) % 3, X[:, -1, 0] - X[:, 0, 1]


def targets(estimator_class):
    _, y_class, y_reg = data()
    return y_class if estimator_class is LSTMClassifier else y_reg


def unfitted(estimator_class, **params):
    defaults = dict(hidden_layer_sizes=(4,), max_iter=2, batch_size=8, random_state=0)
    return estimator_class(**{**defaults, **params})


@functools.cache
def _fitted(estimator_class, dtype=np.float64):
    X, _, _ = data()
    return unfitted(estimator_class).fit(X.astype(dtype), targets(estimator_class))


def fitted(estimator_class, dtype=np.float64):
    """A fresh copy of a fitted model, which partial_fit or set_weights may change."""
    return copy.deepcopy(_fitted(estimator_class, dtype))


def n_samples(X):
    try:
        return len(X)
    except TypeError:  # 0-D
        return N_SAMPLES


def call(estimator_class, method, X, y=None, **kwargs):
    """Call one entry point: fit on a new model, the others on a fitted one.

    Returns what to compare: the weights after fit and partial_fit, else the result.
    """
    if y is None:
        y = targets(estimator_class)[: n_samples(X)]
    if method == "fit":
        return unfitted(estimator_class).fit(X, y, **kwargs).get_weights()
    est = fitted(estimator_class)
    if method == "partial_fit":
        return est.partial_fit(X, y, **kwargs).get_weights()
    if method == "score":
        return est.score(X, y, **kwargs)
    return getattr(est, method)(X)


def assert_same(result, expected):
    if isinstance(expected, list):  # weights
        assert len(result) == len(expected)
        for a, b in zip(result, expected):
            assert a.dtype == b.dtype
            assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    else:
        assert np.asarray(result).dtype == np.asarray(expected).dtype
        assert_allclose(result, expected, rtol=1e-12, atol=1e-15)


def matrix(kinds, entry_points, covered):
    """Params (estimator_class, method, kind), less the pairs tested elsewhere."""
    return [
        pytest.param(
            estimator_class,
            method,
            kind,
            id=f"{estimator_class.__name__}.{method}-{kind}",
        )
        for estimator_class, method in entry_points
        for kind in kinds
        if kind not in covered.get((estimator_class, method), ())
        and kinds[kind][-1](estimator_class, method)
    ]


def poke(a, value, dtype=None, index=(3, 2, 1)):
    """A copy of ``a`` (as ``dtype``) with one value replaced."""
    a = np.array(a, dtype=dtype)
    a[index[: a.ndim]] = value
    return a


def everywhere(estimator_class, method):
    return True


def not_fit(estimator_class, method):
    return method != "fit"


def regressor_only(estimator_class, method):
    return estimator_class is LSTMRegressor


# ---------------------------------------------------------------------------- X
# kind: (make bad X from a good one, exception, message, applies to)
BAD_X = {
    "NaN": (lambda X: poke(X, np.nan), ValueError, "Input X contains NaN", everywhere),
    "infinity": (
        lambda X: poke(X, -np.inf),
        ValueError,
        "Input X contains infinity",
        everywhere,
    ),
    "None in an object array": (
        lambda X: poke(X, None, dtype=object),
        ValueError,
        "Input X contains NaN",
        everywhere,
    ),
    "no samples": (lambda X: X[:0], ValueError, r"0 sample\(s\)", everywhere),
    "0-D": (lambda X: np.array(1.0), TypeError, "at least 1 dimension", everywhere),
    "1-D": (lambda X: X[:, 0, 0], ValueError, "got a 1-D array", everywhere),
    "4-D": (lambda X: X[..., None], ValueError, "got a 4-D array", everywhere),
    "no time steps": (lambda X: X[:, :0], ValueError, r"0 time step\(s\)", everywhere),
    "no features": (lambda X: X[:, :, :0], ValueError, r"0 feature\(s\)", everywhere),
    "strings": (
        lambda X: np.full(X.shape, "a"),
        ValueError,
        "could not convert string to float",
        everywhere,
    ),
    "a string in an object array": (
        lambda X: poke(X, "a", dtype=object),
        ValueError,
        "could not convert string to float: 'a'",
        everywhere,
    ),
    "complex": (lambda X: X + 1j, ValueError, "Complex data not supported", everywhere),
    "other number of features": (
        lambda X: X[:, :, :2],
        ValueError,
        f"X has 2 features, but {NAME} is expecting 3 features as input",
        not_fit,
    ),
}
COVERED_X = {  # by test_estimators.py
    (LSTMClassifier, "fit"): {
        "NaN",
        "no samples",
        "no time steps",
        "no features",
        "1-D",
        "4-D",
        "strings",
        "complex",
    },
    (LSTMClassifier, "predict"): {
        "NaN",
        "no samples",
        "1-D",
        "4-D",
        "no time steps",
        "other number of features",
    },
    (LSTMClassifier, "predict_proba"): {
        "NaN",
        "no samples",
        "1-D",
        "4-D",
        "no time steps",
    },
    (LSTMClassifier, "score"): {"NaN", "no samples", "1-D", "4-D", "no time steps"},
    (LSTMRegressor, "predict"): {"other number of features"},
}


@pytest.mark.parametrize(
    "estimator_class, method, kind", matrix(BAD_X, ENTRY_POINTS, COVERED_X)
)
def test_bad_X_is_a_clear_error(estimator_class, method, kind):
    X, _, _ = data()
    make, error, message, _ = BAD_X[kind]
    with pytest.raises(error, match=message):
        call(estimator_class, method, make(X))


def memory_mapped(X, tmp_path):
    np.save(tmp_path / "X.npy", X)
    return np.load(tmp_path / "X.npy", mmap_mode="r")


def read_only(X, tmp_path):
    X = X.copy()
    X.setflags(write=False)
    return X


# kind: (make an unusual X from a good one, applies to)
WORKING_X = {
    "object numbers": (lambda X, _: X.astype(object), everywhere),
    "nested lists": (lambda X, _: X.tolist(), everywhere),
    "big-endian": (lambda X, _: X.astype(">f8"), everywhere),
    "boolean": (lambda X, _: X > 0, everywhere),
    "int16": (lambda X, _: (10 * X).astype(np.int16), everywhere),
    "uint8": (lambda X, _: np.abs(50 * X).astype(np.uint8), everywhere),
    "float16": (lambda X, _: X.astype(np.float16), everywhere),
    # fit on float32 makes a float32 model, by design; the others cast to the model's.
    "float32": (lambda X, _: X.astype(np.float32), not_fit),
    "Fortran-ordered": (lambda X, _: np.asfortranarray(X), everywhere),
    "negative strides": (lambda X, _: X[(slice(None, None, -1),) * X.ndim], everywhere),
    "non-contiguous": (lambda X, _: np.repeat(X, 2, axis=-1)[..., ::2], everywhere),
    "read-only": (read_only, everywhere),
    "memory-mapped": (memory_mapped, everywhere),
}
COVERED_WORKING_X = {  # by test_estimators.py
    (LSTMClassifier, "fit"): {
        "big-endian",
        "boolean",
        "int16",
        "Fortran-ordered",
        "negative strides",
        "read-only",
        "memory-mapped",
    },
    (LSTMClassifier, "predict_proba"): {
        "big-endian",
        "boolean",
        "int16",
        "Fortran-ordered",
        "negative strides",
        "non-contiguous",
        "memory-mapped",
    },
}


@pytest.mark.parametrize(
    "estimator_class, method, kind",
    matrix(WORKING_X, ENTRY_POINTS, COVERED_WORKING_X),
)
def test_unusual_X_works_as_float64(estimator_class, method, kind, tmp_path):
    X, _, _ = data()
    unusual = WORKING_X[kind][0](X, tmp_path)
    plain = np.array(unusual, dtype=np.float64, order="C")
    assert plain.flags.c_contiguous and plain.dtype.isnative
    assert_same(
        call(estimator_class, method, unusual), call(estimator_class, method, plain)
    )


# ---------------------------------------------------------------------------- y
def with_y(predicate=everywhere):
    return lambda estimator_class, method: (
        method in WITH_Y and predicate(estimator_class, method)
    )


# kind: (make bad y from a good one, exception, message, applies to)
BAD_Y = {
    "NaN": (
        lambda y: poke(y, np.nan, dtype=float),
        ValueError,
        "Input y contains NaN",
        with_y(),
    ),
    "infinity": (
        lambda y: poke(y, np.inf, dtype=float),
        ValueError,
        "Input y contains infinity",
        with_y(),
    ),
    "other length": (
        lambda y: y[:-1],
        ValueError,
        r"inconsistent numbers of samples: \[20, 19\]",
        with_y(),
    ),
    "0-D": (lambda y: y[0], TypeError, "at least 1 dimension", with_y()),
    "3-D": (
        lambda y: y.reshape(-1, 1, 1),
        ValueError,
        "Found array with dim 3",
        with_y(),
    ),
    "strings": (
        lambda y: np.full(len(y), "a"),
        ValueError,
        "could not convert string to float",
        with_y(regressor_only),
    ),
    "complex": (
        lambda y: y + 1j,
        ValueError,
        "Complex data not supported",
        with_y(regressor_only),
    ),
    "other number of outputs": (
        lambda y: np.stack([y, y], axis=1),
        ValueError,
        r"y has 2 outputs, but the model was fitted on 1|different number of output",
        lambda estimator_class, method: (
            estimator_class is LSTMRegressor and method in ("partial_fit", "score")
        ),
    ),
    "labels of another type": (
        lambda y: np.where(y == 0, "a", "b"),
        ValueError,
        r"y has labels \['a', 'b'\] that the model was not fitted on: \[0, 1, 2\]",
        lambda estimator_class, method: (
            estimator_class is LSTMClassifier and method == "partial_fit"
        ),
    ),
}
COVERED_Y = {  # by test_estimators.py
    (LSTMClassifier, "fit"): {"infinity", "other length"},
}


@pytest.mark.parametrize("X_as", ["array", "list"])
@pytest.mark.parametrize(
    "estimator_class, method, kind", matrix(BAD_Y, ENTRY_POINTS, COVERED_Y)
)
def test_bad_y_is_a_clear_error(estimator_class, method, kind, X_as):
    X, _, _ = data()
    if X_as == "list":  # sequences of their own lengths take another path
        X = ragged(X)
    make, error, message, _ = BAD_Y[kind]
    with pytest.raises(error, match=message):
        call(estimator_class, method, X, make(targets(estimator_class)))


# -------------------------------------------------------------- sample_weight
# kind: (bad sample_weight, message, applies to); all ValueError
BAD_SAMPLE_WEIGHT = {
    "other length": (
        np.ones(19),
        r"sample_weight.shape == \(19,\), expected \(20,\)",
        with_y(),
    ),
    "2-D": (np.ones((20, 2)), r"sample_weight.shape == \(20, 2\)", with_y()),
    "negative": (np.full(20, -1.0), "non-negative", with_y()),
    "signs summing to zero": (np.tile([1.0, -1.0], 10), "non-negative", with_y()),
    "NaN": (poke(np.ones(20), np.nan), "finite", with_y()),
    "infinity": (poke(np.ones(20), np.inf), "finite", with_y()),
    "all zero": (np.zeros(20), "sums to zero", with_y()),
    "strings": (np.full(20, "1"), "real numbers", with_y()),
    "complex": (np.ones(20) + 1j, "real numbers", with_y()),
}
COVERED_SAMPLE_WEIGHT = {  # by test_solvers_and_targets.py
    (LSTMClassifier, "fit"): {
        "other length",
        "2-D",
        "negative",
        "NaN",
        "all zero",
        "strings",
    },
}


@pytest.mark.parametrize(
    "estimator_class, method, kind",
    matrix(BAD_SAMPLE_WEIGHT, ENTRY_POINTS, COVERED_SAMPLE_WEIGHT),
)
def test_bad_sample_weight_is_a_clear_error(estimator_class, method, kind):
    X, _, _ = data()
    sample_weight, message, _ = BAD_SAMPLE_WEIGHT[kind]
    with pytest.raises(ValueError, match=message):
        call(estimator_class, method, X, sample_weight=sample_weight)


@pytest.mark.parametrize("estimator_class", [LSTMClassifier, LSTMRegressor])
def test_score_weights_as_the_mixins_do(estimator_class):
    """Valid weights give scikit-learn's weighted accuracy or R^2."""
    X, _, _ = data()
    y = targets(estimator_class)
    est = fitted(estimator_class)
    weights = np.linspace(0, 2, N_SAMPLES)
    metric = accuracy_score if estimator_class is LSTMClassifier else r2_score
    expected = metric(y, est.predict(X), sample_weight=weights)
    assert_allclose(est.score(X, y, sample_weight=weights), expected, rtol=1e-12)
    assert est.score(X, y) == metric(y, est.predict(X))


# ----------------------------------------------------------------- ragged lists
def ragged(X):
    """The same samples as sequences of 2 to 5 steps."""
    return [x[: 2 + i % 4] for i, x in enumerate(X)]


# kind: (bad element X[1], exception, message, applies to)
BAD_SEQUENCE = {
    "NaN": (np.full((2, 3), np.nan), ValueError, r"Input X\[1\] contains NaN"),
    "infinity": (np.full((2, 3), np.inf), ValueError, r"X\[1\] contains infinity"),
    "no time steps": (np.zeros((0, 3)), ValueError, r"X\[1\] has shape \(0, 3\)"),
    "other number of features": (
        np.zeros((2, 2)),
        ValueError,
        r"same number of features: X\[0\] has 3, X\[1\] has 2",
    ),
    "1-D": (np.zeros(4), ValueError, r"X\[1\] has shape \(4,\)"),
    "3-D": (np.zeros((2, 2, 3)), ValueError, r"X\[1\] has shape \(2, 2, 3\)"),
    "None": (None, ValueError, r"X\[1\] is None, not a sequence"),
    "strings": (
        np.full((2, 3), "a"),
        ValueError,
        r"X\[1\]: could not convert string to float",
    ),
    "complex": (
        np.ones((2, 3)) + 1j,
        ValueError,
        r"X\[1\]: Complex data not supported",
    ),
    "rows of different lengths": (
        [[1.0, 2.0, 3.0], [1.0, 2.0]],
        ValueError,
        r"X\[1\] is not a 2-D array: .*inhomogeneous",
    ),
}
BAD_SEQUENCE = {kind: (*case, everywhere) for kind, case in BAD_SEQUENCE.items()}
COVERED_SEQUENCE = {  # by test_ragged.py
    (LSTMClassifier, "fit"): {
        "no time steps",
        "other number of features",
        "1-D",
        "NaN",
        "strings",
    },
}


@pytest.mark.parametrize(
    "estimator_class, method, kind",
    matrix(BAD_SEQUENCE, ENTRY_POINTS, COVERED_SEQUENCE),
)
def test_bad_sequence_in_a_list_is_a_clear_error(estimator_class, method, kind):
    X, _, _ = data()
    sequences = ragged(X)
    element, error, message, _ = BAD_SEQUENCE[kind]
    sequences[1] = element
    with pytest.raises(error, match=message):
        call(estimator_class, method, sequences)


@pytest.mark.parametrize("estimator_class, method", ENTRY_POINTS)
def test_list_of_unusual_arrays_works_as_float64(estimator_class, method, tmp_path):
    X, _, _ = data()
    kinds = [make for kind, (make, _) in WORKING_X.items() if kind != "float32"]
    sequences = []
    for i, x in enumerate(ragged(X)):
        folder = tmp_path / str(i)
        folder.mkdir()
        sequences.append(kinds[i % len(kinds)](x, folder))
    plain = [np.array(x, dtype=np.float64) for x in sequences]
    assert_same(
        call(estimator_class, method, sequences), call(estimator_class, method, plain)
    )


@pytest.mark.parametrize("estimator_class, method", ENTRY_POINTS)
def test_list_mixing_numbers_and_strings_of_numbers_keeps_every_value(
    estimator_class, method
):
    """Each sequence is converted on its own: NumPy joins numbers with strings as
    strings, which made booleans "True" (refused) and float32 values their
    shortest decimal digits (read back as other float64 values)."""
    X, _, _ = data()
    sequences = ragged(X)
    sequences[:3] = [
        sequences[0].astype(str),
        sequences[1] > 0,
        sequences[2].astype(np.float32),
    ]
    plain = [np.array(x, dtype=np.float64) for x in sequences]
    assert_same(
        call(estimator_class, method, sequences), call(estimator_class, method, plain)
    )


# ----------------------------------------------------------------- parameters
BAD_PARAMETERS = {
    "hidden_layer_sizes=0": ({"hidden_layer_sizes": 0}, "hidden_layer_sizes"),
    "a layer of 0 units": ({"hidden_layer_sizes": (4, 0)}, "positive"),
    "fractional units": ({"hidden_layer_sizes": (2.5,)}, "positive int"),
    "negative learning rate": ({"learning_rate_init": -1.0}, "learning_rate_init"),
    "zero learning rate": ({"learning_rate_init": 0.0}, "learning_rate_init"),
    "NaN alpha": ({"alpha": np.nan}, "alpha"),
    "batch_size=0": ({"batch_size": 0}, "batch_size"),
    "max_iter=0": ({"max_iter": 0}, "max_iter"),
    "dropout=1": ({"dropout": 1.0}, "dropout"),
    "max_grad_norm=0": ({"max_grad_norm": 0.0}, "max_grad_norm"),
}
BAD_PARAMETERS = {
    kind: (*case, lambda estimator_class, method: method in ("fit", "partial_fit"))
    for kind, case in BAD_PARAMETERS.items()
}
COVERED_PARAMETERS = {  # by test_estimators.py
    (LSTMClassifier, "fit"): {
        "a layer of 0 units",
        "negative learning rate",
        "max_grad_norm=0",
    },
}


@pytest.mark.parametrize(
    "estimator_class, method, kind",
    matrix(BAD_PARAMETERS, ENTRY_POINTS, COVERED_PARAMETERS),
)
def test_bad_parameters_are_clear_errors(estimator_class, method, kind):
    X, _, _ = data()
    y = targets(estimator_class)
    params, message, _ = BAD_PARAMETERS[kind]
    est = unfitted(estimator_class, **params)
    kwargs = {"classes": [0, 1, 2]} if estimator_class is LSTMClassifier else {}
    with pytest.raises(ValueError, match=message):
        if method == "fit":
            est.fit(X, y)
        else:
            est.partial_fit(X, y, **kwargs)


# ----------------------------------------------------------------- set_weights
# kind: (make bad weights from good ones, exception, message)
BAD_WEIGHTS = {
    "NaN": (
        lambda w: w[:2] + [np.full_like(w[2], np.nan)] + w[3:],
        ValueError,
        "finite",
    ),
    "infinity": (
        lambda w: w[:-1] + [np.full_like(w[-1], -np.inf)],
        ValueError,
        "finite",
    ),
    "transposed": (
        lambda w: [w[0].T] + w[1:],
        ValueError,
        r"Weight 0 has shape \(16, 3\), expected \(3, 16\)",
    ),
    "an extra axis": (
        lambda w: [w[0][..., None]] + w[1:],
        ValueError,
        r"Weight 0 has shape \(3, 16, 1\), expected \(3, 16\)",
    ),
    "one array too few": (
        lambda w: w[:-1],
        ValueError,
        r"Expected 5 weight arrays \(1 LSTM layers x 3 \+ 2 .*\), got 4",
    ),
    "one array too many": (
        lambda w: w + [w[-1]],
        ValueError,
        r"Expected 5 weight arrays .*, got 6",
    ),
    "strings": (
        lambda w: w[:1] + [w[1].astype(str)] + w[2:],
        ValueError,
        r"Weight 1 has dtype <U\d+; expected real numbers",
    ),
    "object numbers": (
        lambda w: w[:1] + [w[1].astype(object)] + w[2:],
        ValueError,
        "Weight 1 has dtype object; expected real numbers",
    ),
    "object strings": (
        lambda w: w[:1] + [w[1].astype(str).astype(object)] + w[2:],
        ValueError,
        "Weight 1 has dtype object; expected real numbers",
    ),
    "complex": (
        lambda w: w[:1] + [w[1] + 1j] + w[2:],
        ValueError,
        "Weight 1 has dtype complex128; expected real numbers",
    ),
    "None for an array": (
        lambda w: [None] + w[1:],
        ValueError,
        r"Weight 0 has shape \(\), expected \(3, 16\)",
    ),
    "rows of different lengths": (
        lambda w: [[[1.0, 2.0], [3.0]]] + w[1:],
        ValueError,
        "inhomogeneous",
    ),
    "not a list": (lambda w: None, TypeError, "not iterable"),
}
COVERED_WEIGHTS = {  # by test_estimators.py
    LSTMClassifier: {"one array too few", "transposed", "NaN", "strings"},
}


@pytest.mark.parametrize(
    "estimator_class, kind",
    [
        pytest.param(cls, kind, id=f"{cls.__name__}-{kind}")
        for cls in (LSTMClassifier, LSTMRegressor)
        for kind in BAD_WEIGHTS
        if kind not in COVERED_WEIGHTS.get(cls, ())
    ],
)
def test_bad_weights_are_a_clear_error_and_change_nothing(estimator_class, kind):
    X, _, _ = data()
    est = fitted(estimator_class)
    before = est.predict(X)
    make, error, message = BAD_WEIGHTS[kind]
    with pytest.raises(error, match=message):
        est.set_weights(make(est.get_weights()))
    assert_array_equal(est.predict(X), before)


@pytest.mark.parametrize("estimator_class", [LSTMClassifier, LSTMRegressor])
def test_weights_too_large_for_a_float32_model(estimator_class):
    est = fitted(estimator_class, np.float32)
    weights = est.get_weights()
    weights[0] = np.full(weights[0].shape, 1e300)  # finite in float64
    with pytest.raises(ValueError, match=r"too large for dtype\('float32'\)"):
        est.set_weights(weights)


# kind: convert each weight array; set_weights casts real numbers to the model's
# dtype, as fit does with integer X (get_weights returns the model's dtype).
WORKING_WEIGHTS = {
    "big-endian": lambda w: w.astype(w.dtype.newbyteorder(">")),
    "Fortran-ordered": np.asfortranarray,
    "non-contiguous": lambda w: np.repeat(w, 2, axis=-1)[..., ::2],
    "read-only": lambda w: read_only(w, None),
    "nested lists": lambda w: w.tolist(),
    "float32": lambda w: w.astype(np.float32),
    "float16": lambda w: w.astype(np.float16),
    "int32": lambda w: np.round(4 * w).astype(np.int32),
    "int64": lambda w: np.round(4 * w).astype(np.int64),
}


@pytest.mark.parametrize("container", [list, tuple, iter])
@pytest.mark.parametrize("kind", WORKING_WEIGHTS)
@pytest.mark.parametrize("estimator_class", [LSTMClassifier, LSTMRegressor])
def test_unusual_weight_arrays_work(estimator_class, kind, container):
    X, _, _ = data()
    donor = unfitted(estimator_class, random_state=1).fit(X, targets(estimator_class))
    unusual = [WORKING_WEIGHTS[kind](w) for w in donor.get_weights()]
    plain = [np.array(w, dtype=np.float64) for w in unusual]
    est = fitted(estimator_class).set_weights(container(unusual))
    expected = fitted(estimator_class).set_weights(plain)
    for got, want in zip(est.get_weights(), plain):
        assert got.dtype == np.float64
        assert_array_equal(got, want)
    assert_array_equal(est.predict(X), expected.predict(X))
