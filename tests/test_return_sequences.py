"""Per-step outputs (return_sequences=True): the network, the estimators, the API."""

import pickle

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from reference import as_head, packed_batch, reference_network
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from test_kernels import assert_gradient_matches_finite_differences

from sklstm import LSTMClassifier, LSTMRegressor, SequenceScaler
from sklstm._network import LSTMNetwork, running_steps
from sklstm._sequences import StepTargets, step_rows

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

HEADS = {"softmax": 3, "logistic": 1, "identity": 2}
LENGTHS = [(5, 5, 5, 5), (5, 4, 2, 1)]


def make_network_problem(
    head, lengths, bidirectional, sizes=(4, 3), seed=0, cell="lstm"
):
    rng = np.random.RandomState(seed)
    n_outputs = HEADS[head]
    network = LSTMNetwork(
        3,
        sizes,
        n_outputs,
        as_head(head),
        np.float64,
        bidirectional,
        return_sequences=True,
        cell=cell,
    )
    params = network.initialize(rng)
    params += rng.normal(scale=0.3, size=params.shape)
    X = rng.normal(size=(len(lengths), max(lengths), 3))
    n_rows = sum(lengths)
    if head == "softmax":
        values = np.eye(n_outputs)[rng.randint(n_outputs, size=n_rows)]
    elif head == "logistic":
        values = rng.randint(2, size=(n_rows, 1)).astype(float)
    else:
        values = rng.normal(size=(n_rows, n_outputs))
    return network, params, X, values, rng


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("head", list(HEADS))
@pytest.mark.parametrize("lengths", LENGTHS)
def test_per_step_forward_matches_numpy_reference(head, lengths, bidirectional, cell):
    network, params, X, _, _ = make_network_problem(
        head, lengths, bidirectional, cell=cell
    )
    X_tm, batch_sizes, last_step, order = packed_batch(X, lengths)
    workspace = network.workspace(*X_tm.shape[:2])
    rows = network.activate(
        network.logits(params, X_tm, batch_sizes, last_step, workspace)
    )
    sorted_lengths = np.asarray(lengths)[order]
    expected = reference_network(
        network.unpack(params),
        X[order],
        sorted_lengths,
        head,
        bidirectional,
        return_sequences=True,
        cell=cell,
    )
    running = running_steps(X_tm.shape[0], last_step)
    where = step_rows(sorted_lengths, np.arange(len(lengths)), running)
    assert_allclose(rows, np.concatenate(expected)[where], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("head", list(HEADS))
@pytest.mark.parametrize("lengths", LENGTHS)
@pytest.mark.parametrize("weighted", [False, True])
def test_per_step_gradient_matches_finite_differences(
    head, lengths, bidirectional, weighted, cell
):
    network, params, X, values, rng = make_network_problem(
        head, lengths, bidirectional, cell=cell
    )
    X_tm, batch_sizes, last_step, order = packed_batch(X, lengths)
    sorted_lengths = np.asarray(lengths)[order]
    shares = sample_weight = None
    if weighted:
        # Unequal shares within sequences (class weights) and unequal sequences.
        step_weight = rng.uniform(0.2, 2, size=len(values))
        totals = np.add.reduceat(step_weight, np.r_[0, np.cumsum(sorted_lengths)[:-1]])
        shares = step_weight / np.repeat(totals, sorted_lengths)
        sample_weight = totals
    Y = StepTargets(values, sorted_lengths, shares)
    workspace = network.workspace(*X_tm.shape[:2])
    assert_gradient_matches_finite_differences(
        lambda p, g: network.loss_and_gradient(
            p,
            X_tm,
            batch_sizes,
            last_step,
            Y,
            0.3,
            g,
            workspace,
            sample_weight=sample_weight,
        ),
        params,
    )


def test_per_step_loss_is_the_weighted_mean_over_steps():
    network, params, X, values, rng = make_network_problem(
        "identity", (5, 4, 2, 1), False
    )
    lengths = np.array([5, 4, 2, 1])
    X_tm, batch_sizes, last_step, _ = packed_batch(X, lengths)
    step_weight = rng.uniform(0.2, 2, size=len(values))
    totals = np.add.reduceat(step_weight, np.r_[0, np.cumsum(lengths)[:-1]])
    Y = StepTargets(values, lengths, step_weight / np.repeat(totals, lengths))
    workspace = network.workspace(*X_tm.shape[:2])
    loss = network.loss_and_gradient(
        params,
        X_tm,
        batch_sizes,
        last_step,
        Y,
        0.0,
        np.empty_like(params),
        workspace,
        sample_weight=totals,
    )
    predictions = np.concatenate(
        reference_network(
            network.unpack(params), X, lengths, "identity", return_sequences=True
        )
    )
    step_losses = 0.5 * np.mean((predictions - values) ** 2, axis=1)
    assert loss == pytest.approx(np.average(step_losses, weights=step_weight))


# ---------------------------------------------------------------- estimators
def regime_data(n_samples=60, n_steps=14, seed=0, ragged=False):
    """Sequences whose per-step label is the sign of the running sum of feature 0."""
    rng = np.random.RandomState(seed)
    if ragged:
        lengths = rng.randint(3, n_steps + 1, size=n_samples)
        X = [rng.normal(size=(length, 2)) for length in lengths]
    else:
        X = rng.normal(size=(n_samples, n_steps, 2))
    labels = [np.where(np.cumsum(x[:, 0]) > 0, "up", "down") for x in X]
    targets = [np.cumsum(x[:, 0]) / 3 for x in X]
    if not ragged:
        labels, targets = np.array(labels), np.array(targets)
    return X, labels, targets


FAST = dict(hidden_layer_sizes=(12,), learning_rate_init=0.02, random_state=0)


@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_classifier_predicts_every_step_as_keras_layout_says(ragged, bidirectional):
    X, labels, _ = regime_data(ragged=ragged)
    clf = LSTMClassifier(
        **FAST, max_iter=40, return_sequences=True, bidirectional=bidirectional
    )
    clf.fit(X, labels)
    proba = clf.predict_proba(X)
    predicted = clf.predict(X)
    log_proba = clf.predict_log_proba(X)
    lengths = [len(x) for x in X]
    expected = reference_network(
        clf.get_weights(),
        _padded(X),
        lengths,
        "logistic",
        bidirectional,
        return_sequences=True,
    )
    if ragged:
        assert isinstance(proba, list) and isinstance(predicted, list)
        assert [p.shape for p in proba] == [(n, 2) for n in lengths]
    else:
        assert proba.shape == (len(X), X.shape[1], 2)
        assert predicted.shape == (len(X), X.shape[1])
    for p, lp, label, ref in zip(proba, log_proba, predicted, expected):
        # atol: a well-fitted step's probability can be 1e-8, where rounding
        # of the order of 1e-17 is a relative 1e-9.
        assert_allclose(p[:, 1], ref[:, 0], rtol=1e-9, atol=1e-15)
        assert_allclose(np.exp(lp), p, rtol=1e-9, atol=1e-15)
        assert_array_equal(label, clf.classes_[np.argmax(p, axis=1)])
    assert clf.score(X, labels) > 0.9


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("sizes", [(12,), (16, 5)])
def test_one_sequence_route_equals_the_batch_route(dtype, bidirectional, sizes):
    # A single sequence's per-step prediction runs the register recurrence
    # (every step's logits from one kernel call), a batch the workspace route.
    X, labels, _ = regime_data(n_samples=20)
    X = X.astype(dtype)
    clf = LSTMClassifier(
        hidden_layer_sizes=sizes,
        max_iter=3,
        random_state=0,
        return_sequences=True,
        bidirectional=bidirectional,
    ).fit(X, labels)
    batch = clf.predict_proba(X)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for i in range(3):
        single = clf.predict_proba(X[i : i + 1])
        assert single.shape == (1, X.shape[1], 2) and single.dtype == dtype
        assert_allclose(single[0], batch[i], rtol=tolerance, atol=tolerance)
        assert_array_equal(clf.predict(X[i : i + 1])[0], clf.predict(X)[i])
        # A list of one sequence takes the same route and stays a list.
        (listed,) = clf.predict_proba([X[i]])
        assert_allclose(listed, batch[i], rtol=tolerance, atol=tolerance)
        assert_array_equal(clf.predict([X[i]])[0], clf.predict(X)[i])


def _padded(X):
    if isinstance(X, np.ndarray):
        return X
    out = np.zeros((len(X), max(len(x) for x in X), X[0].shape[1]))
    for i, x in enumerate(X):
        out[i, : len(x)] = x
    return out


def test_score_is_accuracy_over_steps_weighted_by_their_sequence():
    X, labels, _ = regime_data(n_samples=30, ragged=True)
    clf = LSTMClassifier(**FAST, max_iter=5, return_sequences=True).fit(X, labels)
    weight = np.random.RandomState(1).uniform(0, 3, size=len(X))
    predicted = clf.predict(X)
    correct = np.concatenate([p == y for p, y in zip(predicted, labels)])
    step_weight = np.repeat(weight, [len(x) for x in X])
    assert clf.score(X, labels, sample_weight=weight) == pytest.approx(
        np.average(correct, weights=step_weight)
    )


@pytest.mark.parametrize("n_outputs", [None, 2])
def test_regressor_per_step_outputs_and_r2(n_outputs):
    X, _, targets = regime_data()
    y = targets if n_outputs is None else np.stack([targets, -2 * targets], axis=2)
    reg = LSTMRegressor(**FAST, max_iter=60, return_sequences=True).fit(X, y)
    prediction = reg.predict(X)
    assert prediction.shape == y.shape
    weight = np.arange(len(X)) % 3
    # R^2 over every step, each weighing what its sequence weighs.
    flat = y.reshape(-1, *y.shape[2:])
    expected = r2_score(
        flat,
        prediction.reshape(flat.shape),
        sample_weight=np.repeat(weight, X.shape[1]),
    )
    assert reg.score(X, y, sample_weight=weight) == pytest.approx(expected)
    assert reg.score(X, y) > 0.9


@pytest.mark.parametrize("solver", ["adam", "rmsprop", "sgd", "lbfgs"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_solver_learns_per_step_labels(solver, dtype):
    X, labels, _ = regime_data(n_samples=80, ragged=True)
    X = [x.astype(dtype) for x in X]
    rate = {"sgd": 0.3, "rmsprop": 0.01}.get(solver, 0.02)
    clf = LSTMClassifier(
        hidden_layer_sizes=(12,),
        solver=solver,
        learning_rate_init=rate,
        max_iter=80,
        random_state=0,
        return_sequences=True,
    )
    clf.fit(X, labels)
    assert clf.predict_proba(X)[0].dtype == dtype
    assert clf.score(X, labels) > 0.85


def test_class_weight_weighs_steps_by_their_label():
    # Every sequence has one label throughout: class weights are then the same
    # as sample weights of the sequences, and must give the same fit.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 6, 2))
    sequence_label = np.where(X[:, 0, 0] > 0, "a", "b")
    labels = np.repeat(sequence_label[:, None], 6, axis=1)
    class_weight = {"a": 3.0, "b": 0.5}
    params = dict(FAST, max_iter=5, return_sequences=True, shuffle=False)
    by_class = LSTMClassifier(**params, class_weight=class_weight).fit(X, labels)
    by_sample = LSTMClassifier(**params).fit(
        X, labels, sample_weight=[class_weight[c] for c in sequence_label]
    )
    assert_allclose(by_class.predict_proba(X), by_sample.predict_proba(X), rtol=1e-6)


def test_sample_weight_is_repetition_with_lbfgs():
    X, _, targets = regime_data(n_samples=20, ragged=True)
    weight = np.r_[np.full(10, 2), np.ones(10)].astype(int)
    repeated_X = [x for x, w in zip(X, weight) for _ in range(w)]
    repeated_y = [t for t, w in zip(targets, weight) for _ in range(w)]
    params = dict(FAST, solver="lbfgs", max_iter=15, return_sequences=True)
    weighted = LSTMRegressor(**params).fit(X, targets, sample_weight=weight)
    repeated = LSTMRegressor(**params).fit(repeated_X, repeated_y)
    assert_allclose(
        np.concatenate(weighted.predict(X)),
        np.concatenate(repeated.predict(X)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_early_stopping_partial_fit_warm_start_and_dropout():
    X, labels, _ = regime_data(n_samples=60, ragged=True)
    early = LSTMClassifier(
        **FAST, max_iter=30, early_stopping=True, return_sequences=True
    ).fit(X, labels)
    assert len(early.validation_scores_) == early.n_iter_
    assert early.best_validation_score_ == max(
        [early.best_validation_score_, *early.validation_scores_]
    )
    scored = LSTMClassifier(
        **FAST, max_iter=5, early_stopping=True, scoring=None, return_sequences=True
    ).fit(X, labels, X_val=X[:10], y_val=labels[:10])
    assert all(0 <= s <= 1 for s in scored.validation_scores_)

    incremental = LSTMClassifier(**FAST, return_sequences=True)
    for _ in range(3):
        incremental.partial_fit(X, labels, classes=["down", "up"])
    assert incremental.n_iter_ == 3 and incremental.t_ == 3 * len(X)

    warm = LSTMClassifier(**FAST, max_iter=3, warm_start=True, return_sequences=True)
    warm.fit(X, labels)
    before = warm.get_weights()
    warm.fit(X, labels)
    assert any(not np.array_equal(a, b) for a, b in zip(before, warm.get_weights()))
    warm.set_params(return_sequences=False)
    with pytest.raises(ValueError, match="return_sequences=False differs"):
        warm.fit(X, labels)

    dropped = LSTMClassifier(
        **FAST, max_iter=20, dropout=0.2, recurrent_dropout=0.2, return_sequences=True
    ).fit(X, labels)
    assert dropped.score(X, labels) > 0.8


def test_pipeline_search_cross_validation_and_persistence(tmp_path):
    X, labels, _ = regime_data(n_samples=48)
    pipe = make_pipeline(
        SequenceScaler(), LSTMClassifier(**FAST, max_iter=8, return_sequences=True)
    )
    scores = cross_val_score(pipe, X, labels, cv=3)
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))
    search = GridSearchCV(
        pipe, {"lstmclassifier__hidden_layer_sizes": [(4,), (8,)]}, cv=2
    ).fit(X, labels)
    model = search.best_estimator_
    assert model.predict(X).shape == labels.shape

    X_ragged, labels_ragged, _ = regime_data(n_samples=30, ragged=True)
    assert cross_val_score(
        LSTMClassifier(**FAST, max_iter=3, return_sequences=True),
        X_ragged,
        labels_ragged,
        cv=3,
    ).shape == (3,)

    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    joblib.dump(model, tmp_path / "model.joblib")
    assert_array_equal(
        joblib.load(tmp_path / "model.joblib").predict(X), model.predict(X)
    )


def test_many_to_one_is_unchanged_by_the_parameter_default():
    X, labels, _ = regime_data(n_samples=30)
    y = labels[:, -1]
    default = LSTMClassifier(**FAST, max_iter=3).fit(X, y)
    explicit = LSTMClassifier(**FAST, max_iter=3, return_sequences=False).fit(X, y)
    assert_array_equal(default.predict_proba(X), explicit.predict_proba(X))
    assert default.predict_proba(X).shape == (30, 2)


@pytest.mark.parametrize(
    "make_y, message",
    [
        (lambda labels: labels[:-1], r"targets for 29 sequences, but X has 30"),
        (
            lambda labels: [*labels[:4], labels[4][:-1], *labels[5:]],
            r"y\[4\] has \d+ steps, but sequence 4 of X has \d+ steps",
        ),
        (lambda labels: None, "requires y to be passed"),
        (
            lambda labels: [np.stack([y, y], axis=1) for y in labels],
            r"takes one label for each step",
        ),
        (lambda labels: [y[0] for y in labels], r"y\[0\] has no time axis"),
    ],
)
def test_targets_that_do_not_match_their_sequences_are_named(make_y, message):
    X, labels, _ = regime_data(n_samples=30, ragged=True)
    with pytest.raises(ValueError, match=message):
        LSTMClassifier(return_sequences=True).fit(X, make_y(labels))


def test_metric_names_are_refused_for_per_step_early_stopping():
    X, labels, _ = regime_data(n_samples=30)
    with pytest.raises(ValueError, match=r"scoring='accuracy' names a scikit-learn"):
        LSTMClassifier(
            return_sequences=True, early_stopping=True, scoring="accuracy"
        ).fit(X, labels)


def test_dense_targets_of_the_wrong_shape_are_refused():
    X, labels, _ = regime_data(n_samples=30)
    with pytest.raises(ValueError, match=r"shape \(30,\), but with return_sequences"):
        LSTMClassifier(return_sequences=True).fit(X, labels[:, -1])
    # A NaN marks a step without a target (tests/test_missing.py); a sequence
    # without any target is refused by its index.
    with pytest.raises(ValueError, match=r"NaN\) at any step of sequence 3"):
        y = np.ones((30, X.shape[1]))
        y[3, :] = np.nan
        LSTMRegressor(return_sequences=True).fit(X, y)
