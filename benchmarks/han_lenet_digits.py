"""Han et al.'s LeNet-300-100 pruning on digits, fp32 against pruned, over seeds (docs/sparsity.md).

    python benchmarks/han_lenet_digits.py [--seeds 0 1 2]

Prints per seed: test accuracy of each, parameters, non-zero parameters and the reduction.
The recipe and sparsities are tests/test_han_pruning.py's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> None:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_han_pruning import DIGITS_SCHEME, RECIPE

    from hwsim.data import load_dataset
    from hwsim.models import build_model
    from hwsim.schemes import build_scheme
    from hwsim.train import TrainRecipe, train

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'seed':>4} {'fp32':>7} {'pruned':>7} {'gap pts':>7} {'params':>7} {'nonzero':>7} {'x fewer':>7}")
    for seed in args.seeds:
        ds = load_dataset("digits", seed=seed)
        acc, counts = {}, (0, 0)
        for key, spec in (("fp32", {"name": "fp32"}), ("pruned", DIGITS_SCHEME)):
            torch.manual_seed(seed)
            scheme = build_scheme(spec)
            model = scheme.convert(build_model("lenet300", num_classes=10, in_shape=(1, 8, 8)))
            acc[key] = train(model, scheme, ds, TrainRecipe(seed=seed, **RECIPE), progress=False).final_test_acc
            counts = (sum(p.numel() for p in model.parameters()), sum(int((p != 0).sum()) for p in model.parameters()))
        gap = 100 * (acc["fp32"] - acc["pruned"])
        print(f"{seed:4d} {acc['fp32']:7.4f} {acc['pruned']:7.4f} {gap:7.2f} {counts[0]:7d} {counts[1]:7d} "
              f"{counts[0] / counts[1]:7.2f}")


if __name__ == "__main__":
    main()
