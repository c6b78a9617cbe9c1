"""Time two builds of sklstm against each other, alternating, in fresh processes.

For each configuration of ``bench_torch.py`` and each dtype (float32, float64) it
reports the median training epoch, single-sequence ``predict_proba`` latency and
batch ``predict_proba`` time (the whole training set in one call, as
``bench_onnx.py`` times it) of each build, and new / old. A build is a source
tree with its kernels compiled in place (``python setup.py build_ext
--inplace``), e.g. a ``git worktree`` of an older commit; each round runs both
builds, in alternating order, each in its own process with that tree first on
``PYTHONPATH``. Machines are noisy: compare only figures
from the same run.

    git worktree add /tmp/old <commit>
    (cd /tmp/old && python setup.py build_ext --inplace)
    python benchmarks/bench_builds.py /tmp/old . --configs stacked small --rounds 4
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# One build's measurements, printed as JSON:
# {"config dtype": [epoch s, latency s, batch s]}.
CHILD = """
import json, statistics, sys, time
sys.path.insert(0, {here!r})
from bench_torch import CONFIGS, SklstmModel, latency_input, make_data

def median_time(call, repeats):
    call()  # warm-up, untimed
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)

out = {{}}
for name in {configs!r}:
    config = CONFIGS[name]
    X, y = make_data(config, config.n_samples)
    for side, dtype in (("sklstm", "float32"), ("sklstm_float64", "float64")):
        model = SklstmModel(config, X, y, side)
        one = model.prepare(latency_input(config, X))
        batch = model.prepare(X)
        out[name + " " + dtype] = [
            median_time(model.train_epoch, {epochs}),
            median_time(lambda: model.predict_proba(one), {calls}),
            median_time(lambda: model.predict_proba(batch), {batches}),
        ]
print(json.dumps(out))
"""


def measure(tree, args):
    """One build's medians, from a fresh process that imports sklstm from ``tree``."""
    code = CHILD.format(
        here=str(HERE),
        configs=args.configs,
        epochs=args.epochs,
        calls=args.calls,
        batches=args.batches,
    )
    env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd="/", capture_output=True, text=True
    )
    if run.returncode != 0:
        raise RuntimeError(f"{tree}: {run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="source tree of the reference build")
    parser.add_argument("new", help="source tree of the build to compare")
    parser.add_argument("--configs", nargs="+", default=["stacked", "small"])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--batches", type=int, default=7)
    args = parser.parse_args()
    builds = {"old": args.old, "new": args.new}
    runs = {side: [] for side in builds}
    for round_ in range(args.rounds):
        order = list(builds) if round_ % 2 == 0 else list(builds)[::-1]
        for side in order:
            runs[side].append(measure(builds[side], args))
    print(
        "| config | old epoch s | new epoch s | new/old | old 1-sample µs "
        "| new 1-sample µs | new/old | old batch ms | new batch ms | new/old |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key in runs["old"][0]:
        old, new = (
            [statistics.median(run[key][i] for run in runs[side]) for i in (0, 1, 2)]
            for side in ("old", "new")
        )
        print(
            f"| {key} | {old[0]:.4f} | {new[0]:.4f} | {new[0] / old[0]:.2f} | "
            f"{old[1] * 1e6:.0f} | {new[1] * 1e6:.0f} | {new[1] / old[1]:.2f} | "
            f"{old[2] * 1e3:.1f} | {new[2] * 1e3:.1f} | {new[2] / old[2]:.2f} |"
        )


if __name__ == "__main__":
    main()
