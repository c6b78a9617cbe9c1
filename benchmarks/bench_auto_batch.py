"""What ``batch_size="auto"`` costs per epoch against its old value, min(200, n).

"auto" gives small data sets Keras' 32 sequences a minibatch (more optimizer steps
per epoch, which is what trains them well) and grows to 200 on large ones. Smaller
minibatches run slower per sample; this measures by how much, on the
configurations of ``bench_torch.py`` (their data, float32 and float64), timing one
epoch of each batch size alternately in one process, several repeats, medians::

    python benchmarks/bench_auto_batch.py [--repeats 5] [--configs stacked,small]

Results: a Markdown table on stdout and in ``benchmarks/results/auto_batch.md``.
"""

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).parent))
from bench_torch import CONFIGS, make_data  # noqa: E402

from sklstm import LSTMClassifier  # noqa: E402
from sklstm._training import auto_batch_size as _auto_batch_size  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "auto_batch.md"


def epoch_seconds(config, X, y, batch_size, dtype):
    est = LSTMClassifier(
        hidden_layer_sizes=(config.units,) * config.n_layers,
        batch_size=batch_size,
        max_iter=1,
        random_state=0,
        ema_momentum=None,  # the epoch alone: no average's forward pass
    )
    X = X.astype(dtype) if isinstance(X, np.ndarray) else [x.astype(dtype) for x in X]
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    return time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--configs", default="stacked,small,medium,large")
    args = parser.parse_args(argv)
    rows = [
        "| config | n | dtype | old auto (200) s | new auto | new auto s | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in args.configs.split(","):
        config = CONFIGS[name]
        X, y = make_data(config, config.n_samples)
        n = config.n_samples
        old, new = min(200, n), _auto_batch_size(n)
        for dtype in (np.float32, np.float64):
            times = {old: [], new: []}
            for _ in range(args.repeats):
                for batch in (old, new):  # alternating, in one process
                    times[batch].append(epoch_seconds(config, X, y, batch, dtype))
            t_old, t_new = (statistics.median(times[b]) for b in (old, new))
            rows.append(
                f"| {name} | {n} | {np.dtype(dtype).name} | {t_old:.3f} | {new} | "
                f"{t_new:.3f} | {t_new / t_old:.2f} |"
            )
            print(rows[-1], flush=True)
    RESULTS.write_text(
        '# batch_size="auto": epoch time against min(200, n_samples)\n\n'
        f"Medians of {args.repeats} alternating one-epoch fits "
        "(benchmarks/bench_auto_batch.py).\n\n" + "\n".join(rows) + "\n"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
