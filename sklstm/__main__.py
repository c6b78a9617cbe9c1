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
    """Fit an LSTM on the digits read row by row; print its progress and score."""
    parser = argparse.ArgumentParser(
        prog="python -m sklstm",
        description="Train an LSTM classifier on scikit-learn's handwritten digits, "
        "read row by row as sequences of 8 steps of 8 features (no download).",
    )
    parser.add_argument("--epochs", type=int, default=15, help="default: 15")
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
        "Model: SequenceScaler -> LSTMClassifier(hidden_layer_sizes=(32,)), "
        f"adam, batch 64, {args.epochs} epochs.\n"
    )
    model = make_pipeline(
        SequenceScaler(),
        LSTMClassifier(
            hidden_layer_sizes=(32,),
            learning_rate_init=0.01,
            batch_size=64,
            max_iter=args.epochs,
            random_state=0,
            verbose=True,
        ),
    )
    started = time.perf_counter()
    with warnings.catch_warnings():
        # A fixed number of epochs is the demo's budget, not a convergence failure.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    elapsed = time.perf_counter() - started
    accuracy = model.score(X_test, y_test)
    print(f"\nHeld-out accuracy: {accuracy:.3f} (trained in {elapsed:.1f} s).")
    print(
        "\nNext: the examples in examples/ (the Keras stacked-LSTM example, a "
        "grid search,\nforecasting, learning curves, deployment), and the user "
        "guide in docs/ for the\nparameters, variable-length sequences and moving "
        "weights to and from Keras or PyTorch."
    )
    return accuracy


if __name__ == "__main__":
    main()
