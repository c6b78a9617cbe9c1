"""SequencePatcher: patches of readings as the steps of an LSTM."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.pipeline import make_pipeline

from sklstm import LSTMClassifier, SequencePatcher, SequenceScaler


def reference_patches(x, patch_length, stride):
    """Loop reference: every reading in a patch, the last repeated to fill."""
    n_steps = len(x)
    patches, start = [], 0
    while True:
        rows = [x[min(start + j, n_steps - 1)] for j in range(patch_length)]
        patches.append(np.concatenate(rows))
        if start + patch_length >= n_steps:
            break
        start += stride
    return np.array(patches)


@pytest.mark.parametrize(
    "patch_length, stride", [(4, 2), (4, 4), (5, 3), (1, 1), (8, None)]
)
@pytest.mark.parametrize("n_steps", [1, 3, 4, 5, 9, 16])
def test_patches_equal_the_loop_reference(patch_length, stride, n_steps):
    rng = np.random.RandomState(n_steps)
    X = rng.normal(size=(3, n_steps, 2))
    patcher = SequencePatcher(patch_length=patch_length, stride=stride).fit(X)
    patched = patcher.transform(X)
    step = stride or max(1, patch_length // 2)
    for x, got in zip(X, patched):
        assert_array_equal(got, reference_patches(x, patch_length, step))
    assert patched.shape[1] == patcher.n_patches(n_steps)


def test_ragged_sequences_short_ones_included():
    rng = np.random.RandomState(0)
    X = [rng.normal(size=(n, 3)) for n in (2, 16, 17, 40)]
    patcher = SequencePatcher(patch_length=16).fit(X)  # a new patch every 8
    patched = patcher.transform(X)
    assert [p.shape for p in patched] == [(1, 48), (1, 48), (2, 48), (4, 48)]
    for x, got in zip(X, patched):
        assert_array_equal(got, reference_patches(x, 16, 8))
    names = patcher.get_feature_names_out()
    assert list(names[:4]) == ["x0_t0", "x1_t0", "x2_t0", "x0_t1"] and len(names) == 48


def test_missing_readings_pass_through_and_persistence():
    X = np.random.RandomState(1).normal(size=(4, 10, 2))
    X[0, 3, 1] = np.nan
    patcher = SequencePatcher(patch_length=4, stride=2).fit(X)
    patched = patcher.transform(X)
    assert np.isnan(patched).sum() == np.isnan(X).sum() * 2  # 2 patches see it
    assert_array_equal(pickle.loads(pickle.dumps(patcher)).transform(X), patched)
    sio = pytest.importorskip("skops.io")
    dumped = sio.dumps(patcher)
    loaded = sio.loads(dumped, trusted=sio.get_untrusted_types(data=dumped))
    assert_array_equal(loaded.transform(X), patched)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_patched_lstm_in_a_pipeline():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 64, 1))
    y = (X[:, 40:48, 0].mean(axis=1) > 0).astype(int)
    model = make_pipeline(
        SequenceScaler(),
        SequencePatcher(),
        LSTMClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0),
    ).fit(X, y)
    assert model[1].patch_length_ == 8 and model[-1].n_features_in_ == 8
    assert model.predict(X).shape == (60,)
    assert model.predict(list(X[:, :30])).shape == (60,)


@pytest.mark.parametrize(
    "n_steps, expected",
    [
        (1, 1),
        (3, 1),
        (8, 4),
        (15, 7),
        (16, 8),
        (24, 8),
        (127, 8),
        (128, 16),
        (427, 16),
        (511, 16),
        (512, 32),
        (1460, 32),
        (2048, 64),
    ],
)
def test_auto_patch_length_is_the_power_of_two_nearest_the_square_root(
    n_steps, expected
):
    patcher = SequencePatcher().fit(np.zeros((2, n_steps, 1)))
    stride = max(1, expected // 2)
    assert (patcher.patch_length_, patcher.stride_) == (expected, stride)
    patches = patcher.transform(np.zeros((1, n_steps, 1)))
    assert patches.shape[-1] == expected
    # Short sequences are not squeezed into one step, which an LSTM estimator
    # would take for a transposed X.
    assert patches.shape[1] >= min(3, n_steps)


def test_auto_patch_length_follows_the_longest_sequence_of_fit():
    X = [np.zeros((n, 2)) for n in (20, 300, 40)]
    patcher = SequencePatcher(stride=3).fit(X)
    assert (patcher.patch_length_, patcher.stride_) == (16, 3)
    # Learnt in fit: longer sequences later are cut into the same patches.
    assert patcher.transform([np.zeros((3000, 2))])[0].shape == (996, 32)
    assert SequencePatcher(patch_length=5).fit(X).stride_ == 2


def test_per_step_targets_of_readings_are_refused_after_patching():
    X = np.random.RandomState(0).normal(size=(6, 20, 1))
    y = (X[..., 0] > 0).astype(int)
    model = make_pipeline(
        SequencePatcher(patch_length=4),
        LSTMClassifier(return_sequences=True, max_iter=2),
    )
    with pytest.raises(ValueError, match="went through a SequencePatcher"):
        model.fit(X, y)
    with pytest.raises(ValueError, match="went through a SequencePatcher"):
        model.fit(list(X), list(y))


def test_a_patcher_pickled_before_auto_lengths_loads():
    X = np.arange(10.0).reshape(1, 10, 1)
    patcher = SequencePatcher(patch_length=4).fit(X)
    expected = patcher.transform(X)
    del patcher.patch_length_, patcher.stride_  # as fitted before "auto"
    loaded = pickle.loads(pickle.dumps(patcher))
    assert (loaded.patch_length_, loaded.stride_) == (4, 2)
    assert_array_equal(loaded.transform(X), expected)
