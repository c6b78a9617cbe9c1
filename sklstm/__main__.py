"""``python -m sklstm``: a short demo on data that ships with scikit-learn."""

import argparse
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sklstm import LSTMClassifier, SequenceScaler, __version__


def main(argv=None):
    """Fit an LSTM on the digits read row by row; print what it did and its score.

    The model is the getting-started page's first model, at the estimator's
    defaults, so that the demo and the page print the same accuracy.
    """
    parser = argparse.ArgumentParser(
        prog="python -m sklstm",
        description="Train an LSTM classifier on scikit-learn's handwritten digits, "
        "read row by row as sequences of 8 steps of 8 features (no download).",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=200,
        help="at most this many epochs (max_iter; default: 200, the estimator's)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="print the loss of every epoch"
    )
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")

    print(f"sklstm {__version__}: LSTM networks as scikit-learn estimators.\n")
    digits = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.images, digits.target, stratify=digits.target, random_state=0
    )
    print(
        f"Data: {len(X_train)} training and {len(X_test)} test digits, each a "
        f"sequence of {X_train.shape[1]} rows of {X_train.shape[2]} pixels.\n"
        "Model: make_pipeline(SequenceScaler(), LSTMClassifier(random_state=0)), "
        "the defaults:\none LSTM layer of 32 units, adam, at most "
        f"{args.epochs} epochs, stopping when the loss stops improving.\n"
    )
    model = make_pipeline(
        SequenceScaler(),
        LSTMClassifier(max_iter=args.epochs, random_state=0, verbose=args.verbose),
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        # --epochs below what training needs is the user's budget: the summary
        # line below says that training was cut short.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    elapsed = time.perf_counter() - started
    lstm = model[-1]
    why = (
        f"reached --epochs {args.epochs}"
        if lstm.n_iter_ >= args.epochs
        else "the loss stopped improving"
    )
    print(
        f"Trained {lstm.n_iter_} epochs in {elapsed:.1f} s ({why}); kept the "
        f"weights of epoch {lstm.best_iter_}."
    )
    accuracy = model.score(X_test, y_test)
    print(f"Held-out accuracy: {accuracy:.3f}")
    print(
        "\nNext: the getting-started page (docs/getting_started.md) fits this model "
        "in code,\nthen your own sequences; the examples in examples/ start with "
        "Keras' stacked-LSTM classifier."
    )
    return accuracy


if __name__ == "__main__":
    main()
