"""``input_projection``: a linear layer in front of the first recurrent layer,
trained as a product and folded into the fitted network."""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from reference import as_head, packed_batch
from test_kernels import (
    assert_gradient_matches_finite_differences,
    draw_masks,
    masks_of_ones,
)

from sklstm import LSTMClassifier, LSTMRegressor
from sklstm._kernels._layout import CELLS
from sklstm._network import LSTMNetwork
from sklstm._projection import ProjectedNetwork, factored

LENGTHS = [(5, 5, 5, 5), (5, 4, 2, 1)]


def projected_problem(cell, bidirectional, lengths, width=4, seed=0, head="softmax"):
    """A projected network of two layers, weights off their start, a packed batch."""
    rng = np.random.RandomState(seed)
    n_outputs = 3 if head == "softmax" else 2
    plain = LSTMNetwork(
        5, (4, 3), n_outputs, as_head(head), np.float64, bidirectional, cell=cell
    )
    network = ProjectedNetwork(plain, width)
    params = network.initialize(rng)
    params += rng.normal(scale=0.3, size=params.shape)
    X = rng.normal(size=(len(lengths), max(lengths), 5))
    if head == "softmax":
        Y = np.eye(n_outputs)[rng.randint(n_outputs, size=len(lengths))]
    else:
        Y = rng.normal(size=(len(lengths), n_outputs))
    X_tm, batch_sizes, last_step, order = packed_batch(X, lengths)
    return network, params, (X_tm, batch_sizes, last_step), Y[order]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", LENGTHS)
@pytest.mark.parametrize("alpha, dropout", [(0.0, False), (0.7, False), (0.3, True)])
def test_gradient_matches_finite_differences(
    cell, bidirectional, lengths, alpha, dropout
):
    # Without dropout through the folded weights (one direction: the stack
    # kernels), with dropout on the projected input, layer by layer; past a
    # sequence's end nothing may reach E or b.
    network, params, batch, Y = projected_problem(cell, bidirectional, lengths)
    workspace = network.workspace(*batch[0].shape[:2], dropout=dropout)
    masks = (
        draw_masks(network, len(lengths), 0.3, np.random.RandomState(5))
        if dropout
        else None
    )
    assert_gradient_matches_finite_differences(
        lambda p, g: network.loss_and_gradient(
            p, *batch, Y, alpha, g, workspace, masks=masks
        ),
        params,
    )


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", LENGTHS)
def test_folded_and_explicit_routes_agree(cell, bidirectional, lengths):
    # Training folds E into the first layer; dropout runs X @ E + b instead
    # (here with masks of ones, or none): the same loss and gradient.
    network, params, batch, Y = projected_problem(cell, bidirectional, lengths)
    results = []
    for dropout, masks in (
        (False, None),
        (True, None),
        (True, masks_of_ones(network, len(lengths))),
    ):
        workspace = network.workspace(*batch[0].shape[:2], dropout=dropout)
        grads = np.empty_like(params)
        loss = network.loss_and_gradient(
            params, *batch, Y, 0.4, grads, workspace, masks=masks
        )
        results.append((loss, grads))
    for loss, grads in results[1:]:
        assert_allclose(loss, results[0][0], rtol=1e-13)
        assert_allclose(grads, results[0][1], rtol=1e-11, atol=1e-13)


def test_masks_need_the_explicit_workspace():
    network, params, batch, Y = projected_problem("lstm", False, (3, 2))
    masks = masks_of_ones(network, 2)
    with pytest.raises(ValueError, match="workspace made with dropout=True"):
        network.loss_and_gradient(
            params,
            *batch,
            Y,
            0.0,
            np.empty_like(params),
            network.workspace(3, 2),
            masks=masks,
        )


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("head", ["softmax", "identity"])
def test_the_folded_network_is_the_projected_one(cell, bidirectional, head):
    # Same outputs, same loss, same L2 term: the objective is the plain
    # network's, the product penalised in place of the first kernel.
    lengths = (5, 4, 2, 1)
    network, params, batch, Y = projected_problem(
        cell, bidirectional, lengths, head=head
    )
    plain, folded = network.predicting(params)
    assert plain is network.plain and folded.shape == (plain.n_params,)
    grads = np.empty_like(params)
    loss = network.loss_and_gradient(
        params, *batch, Y, 0.7, grads, network.workspace(*batch[0].shape[:2])
    )
    plain_loss = plain.loss_and_gradient(
        folded,
        *batch,
        Y,
        0.7,
        np.empty_like(folded),
        plain.workspace(*batch[0].shape[:2]),
    )
    assert_allclose(loss, plain_loss, rtol=1e-13)
    assert_allclose(network.l2_penalty(params), plain.l2_penalty(folded), rtol=1e-13)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_weights_set_from_outside_factor_exactly(cell, bidirectional):
    network, params, *_ = projected_problem(cell, bidirectional, (3,), width=7)
    plain_params = network.fold(params)
    refactored = factored(network, plain_params, np.random.RandomState(1))
    assert_allclose(network.fold(refactored), plain_params, rtol=1e-12, atol=1e-14)
    narrow = ProjectedNetwork(network.plain, 4)
    with pytest.raises(ValueError, match="input_projection=4 is narrower than the 5"):
        factored(narrow, plain_params, np.random.RandomState(1))


@pytest.mark.parametrize("cell", CELLS)
def test_e_and_b_start_as_torch_linear_and_the_rest_as_keras(cell):
    plain = LSTMNetwork(9, (4,), 3, as_head("softmax"), np.float64, cell=cell)
    network = ProjectedNetwork(plain, 200)
    params = network.initialize(np.random.RandomState(0))
    E, b, core = network.split(params)
    bound = 1 / np.sqrt(9)
    for factor in (E, b):
        assert np.abs(factor).max() <= bound
        assert np.abs(factor).max() > 0.9 * bound  # uniform over the range
    # The core starts as LSTMNetwork does: Keras' initialisers.
    W = network.core.unpack(core)[0]
    assert np.abs(W).max() <= np.sqrt(6 / sum(W.shape))
    if cell == "lstm":
        assert_allclose(network.core.unpack(core)[2][4:8], 1)  # unit_forget_bias


def sequences(n=40, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 8, 3))
    return X, (X[:, :, 0].sum(axis=1) > 0).astype(int)


def fitted(estimator, X, y, method="fit", **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(estimator, method)(X, y, **fit_params)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"bidirectional": True},
        {"dropout": 0.2},
        {"cell": "gru"},
        {"solver": "lbfgs"},
        {"early_stopping": True, "scoring": "accuracy"},
        {"return_sequences": True},
    ],
)
def test_the_fitted_model_is_plain_and_keeps_its_factors(params):
    X, y = sequences()
    if params.get("return_sequences"):
        y = (np.cumsum(X[:, :, 0], axis=1) > 0).astype(int)
    est = fitted(
        LSTMClassifier(
            hidden_layer_sizes=(6,), input_projection=9, max_iter=5, random_state=0
        ).set_params(**params),
        X,
        y,
    )
    plain = LSTMClassifier(hidden_layer_sizes=(6,)).set_params(**params)
    fitted(plain.set_params(max_iter=1), X, y)
    # The fitted weights have the plain network's shapes, and are the
    # factors' fold.
    assert [w.shape for w in est.get_weights()] == [
        w.shape for w in plain.get_weights()
    ]
    network = est._training_network()
    assert_allclose(est._params, network.fold(est._projection_params), rtol=1e-15)
    assert est.predict(X).shape == y.shape


def test_partial_fit_goes_on_from_the_factors():
    X, y = sequences()
    est = LSTMClassifier(
        hidden_layer_sizes=(6,),
        input_projection=9,
        learning_rate_init=1e-7,
        random_state=0,
    )
    fitted(est, X, y, "partial_fit", classes=[0, 1])
    factors = est._projection_params.copy()
    fitted(est, X, y, "partial_fit")
    # A step of 1e-7 away, not a new factorisation of the folded kernel.
    assert_allclose(est._projection_params, factors, atol=1e-5)
    assert_allclose(est._params, est._training_network().fold(factors), atol=1e-4)


def test_set_weights_then_a_warm_start_starts_from_those_weights():
    X, y = sequences()
    est = fitted(
        LSTMRegressor(
            hidden_layer_sizes=(6,), input_projection=4, max_iter=3, random_state=0
        ),
        X,
        y.astype(float),
    )
    weights = est.get_weights()
    weights[0] = weights[0] * 0.5
    est.set_weights(weights)
    assert not hasattr(est, "_projection_params")
    before = est.predict(X)
    # A warm-started fit makes a new optimizer, with this rate: an epoch of
    # tiny steps.
    est.set_params(warm_start=True, learning_rate_init=1e-9, max_iter=1)
    fitted(est, X, y.astype(float))
    # The factorisation folds into the weights set: tiny steps from them.
    assert_allclose(est.predict(X), before, atol=1e-5)
    assert_allclose(est.get_weights()[0], weights[0], atol=1e-5)


def test_a_projection_narrower_than_the_input_cannot_take_set_weights():
    X, y = sequences()
    est = fitted(
        LSTMClassifier(
            hidden_layer_sizes=(4,), input_projection=2, max_iter=2, random_state=0
        ),
        X,
        y,
    )
    est.set_weights(est.get_weights())
    with pytest.raises(ValueError, match="input_projection=2 is narrower than the 3"):
        fitted(est, X, y, "partial_fit")
    assert est.predict(X).shape == y.shape  # the failed call changed nothing


def test_warm_start_refuses_another_projection():
    X, y = sequences()
    est = fitted(
        LSTMClassifier(
            hidden_layer_sizes=(4,),
            input_projection=5,
            max_iter=2,
            warm_start=True,
            random_state=0,
        ),
        X,
        y,
    )
    for other in (None, 6):
        with pytest.raises(ValueError, match=f"input_projection={other!r} differs"):
            fitted(est.set_params(input_projection=other), X, y)


def test_a_refit_without_projection_drops_the_factors():
    X, y = sequences()
    est = fitted(
        LSTMClassifier(
            hidden_layer_sizes=(4,), input_projection=5, max_iter=2, random_state=0
        ),
        X,
        y,
    )
    fitted(est.set_params(input_projection=None), X, y)
    assert not hasattr(est, "_projection_params")


def test_pickled_model_predicts_and_goes_on_training():
    X, y = sequences()
    est = fitted(
        LSTMClassifier(
            hidden_layer_sizes=(4,), input_projection=5, max_iter=3, random_state=0
        ),
        X,
        y,
    )
    loaded = pickle.loads(pickle.dumps(est))
    assert_allclose(loaded.predict_proba(X), est.predict_proba(X))
    for model in (est, loaded):
        fitted(model, X, y, "partial_fit")
    assert_allclose(loaded._projection_params, est._projection_params)


@pytest.mark.parametrize("value", [0, -3, 2.5, "wide"])
def test_invalid_input_projection_is_refused(value):
    X, y = sequences()
    with pytest.raises(ValueError, match="input_projection"):
        LSTMClassifier(input_projection=value).fit(X, y)


@pytest.mark.parametrize("n_features, width", [(3, 128), (128, 128), (200, 200)])
def test_auto_is_128_wide_unless_the_input_is_wider(n_features, width):
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(20, 4, n_features)), np.arange(20) % 2
    est = fitted(
        LSTMClassifier(hidden_layer_sizes=(4,), input_projection="auto", max_iter=2),
        X,
        y,
    )
    E = est._training_network().split(est._projection_params)[0]
    assert E.shape == (n_features, width)
    # A warm start with the parameter as given goes on.
    fitted(est.set_params(warm_start=True), X, y)
