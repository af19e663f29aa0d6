"""The spread of the learned accuracies that tests assert, across seeds: where the tests' floors
must sit (well below the lowest seed, since another CPU's float summation order moves a run as much
as another seed does; see docs/reliability.md).

    python benchmarks/accuracy_spread.py [--seeds 6]

Prints, per test configuration, the minimum, mean and maximum test accuracy over the seeds and the
floor the test asserts.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--only", default="", help="substring of the configurations to run")
    args = ap.parse_args()

    import test_schemes_binary_ternary_lq as sch
    import test_train as tt

    from hwsim.data import load_dataset

    digits = load_dataset("digits")
    runs = [(f"test_train resnet20 w0.25 3 epochs (floor {tt.RESNET_FLOOR})",
             lambda s: tt.resnet_run(digits, s)[1].final_test_acc),
            (f"test_train lenet300 5 epochs (floor {tt.LENET_FLOOR})",
             lambda s: tt.lenet_run(digits, s).final_test_acc)]
    for key, lr, floor in sch.TRAIN:
        runs.append((f"schemes small_net {key} 5 epochs (floor {floor})",
                     lambda s, key=key, lr=lr: sch.digits_accuracy(key, lr, s)))
    print(f"{'configuration':62s} {'min':>6s} {'mean':>6s} {'max':>6s}  ({args.seeds} seeds)")
    for name, fn in runs:
        if args.only not in name:
            continue
        accs = [fn(s) for s in range(args.seeds)]
        print(f"{name:62s} {min(accs):6.3f} {sum(accs) / len(accs):6.3f} {max(accs):6.3f}", flush=True)


if __name__ == "__main__":
    main()
