"""Train the low-precision format schemes on the bundled digits data over several seeds and print a
markdown table of test accuracy (min, mean, max and each seed) per format.

    python benchmarks/format_accuracy.py [--model resnet20 --width 0.5 --epochs 5 --seeds 0 1 2]

Every run uses the same model, recipe and data split (split seed 0; the run seed sets the weights
and the batch order); docs/formats.md's accuracy table was produced by this command.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from hwsim.data import load_dataset  # noqa: E402
from hwsim.models import build_model  # noqa: E402
from hwsim.schemes import build_scheme  # noqa: E402
from hwsim.train import TrainRecipe, train  # noqa: E402

SCHEMES: list[tuple[str, object]] = [
    ("fp32", "fp32"),
    ("bf16", "bf16"),
    ("fp8 (current scaling)", "fp8"),
    ("fp8 (delayed scaling)", {"name": "fp8", "scaling": "delayed"}),
    ("mxfp8", "mxfp8"),
    ("mxfp6", "mxfp6"),
    ("mxfp4", "mxfp4"),
    ("mxint8", "mxint8"),
    ("nvfp4", "nvfp4"),
    ("mxfp4 W, mxfp8 A and G, bf16 master", {"name": "mxfp4", "activation": "mxfp8", "grad": "mxfp8",
                                              "master": "bf16"}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--only", nargs="*", help="labels to run (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("digits", seed=0)
    print(f"digits: {data.n_train} train / {data.n_test} test, model {args.model}(width={args.width}), "
          f"{args.epochs} epochs, SGD lr 0.05 momentum 0.9 cosine, batch 64, seeds {args.seeds}\n")
    print("| scheme | spec | min | mean | max | per seed | wall s |")
    print("|---|---|---|---|---|---|---|")
    for label, spec in SCHEMES:
        if args.only and label not in args.only:
            continue
        accs, t0 = [], time.perf_counter()
        for seed in args.seeds:
            recipe = TrainRecipe(epochs=args.epochs, batch_size=64, lr=0.05, momentum=0.9, schedule="cosine",
                                 weight_decay=1e-4, seed=seed, device="cpu")
            torch.manual_seed(seed)
            scheme = build_scheme(copy.deepcopy(spec))
            model = scheme.convert(build_model(args.model, num_classes=data.num_classes, in_shape=data.in_shape,
                                               width=args.width))
            accs.append(train(model, scheme, data, recipe).final_test_acc)
        print(f"| {label} | `{spec}` | {min(accs):.3f} | {statistics.mean(accs):.3f} | {max(accs):.3f} | "
              f"{', '.join(f'{a:.3f}' for a in accs)} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
