"""Train every precision scheme on the bundled digits data and print a markdown accuracy table.

    python benchmarks/scheme_accuracy.py [--model resnet20 --width 0.5 --epochs 15 --seed 0]

Each row is one honest training run from a fixed seed (same model, recipe and data split
for every scheme); the table in docs/accuracy_digits.md was produced by this command.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from hwsim.data import load_dataset
from hwsim.models import build_model
from hwsim.schemes import build_scheme
from hwsim.train import TrainRecipe, train

# (label, scheme spec[, recipe overrides]). BNN, XNOR-Net, stochastic BinaryConnect and TTQ use
# Adam (the binary seeds trained with Adam); with this SGD recipe they stall on this small set.
SCHEMES: list[tuple] = [
    ("fp32", "fp32"),
    ("binaryconnect", "binaryconnect"),
    ("binaryconnect_stoch", "binaryconnect_stoch", {"optimizer": "adam", "lr": 0.02}),
    ("bnn", "bnn", {"optimizer": "adam", "lr": 0.005}),
    ("bwn", "bwn"),
    ("xnor", "xnor", {"optimizer": "adam", "lr": 0.005}),
    ("twn", "twn"),
    ("ttq", "ttq", {"optimizer": "adam", "lr": 0.005}),
    ("lqnets W2/A32", {"name": "lqnets", "weight_bits": 2}),
    ("lqnets W2/A2", {"name": "lqnets", "weight_bits": 2, "act_bits": 2}),
    ("kbit W4/A4", {"name": "kbit", "weight_bits": 4, "act_bits": 4}),
    ("mcdonnell", "mcdonnell"),
    # McDonnell's model compression: train with sign(W) in forward and backward, full-precision updates,
    # then deploy the 1-bit weights.
    ("mcdonnell, 1-bit weights (train+test)",
     {"name": "mcdonnell", "binary_weights": True, "binary_weights_at_test": True}),
    *[(f"graham {q}", {"name": "graham", "quantizer": q}) for q in ("L2", "L3", "L4", "L5", "U4", "U5", "U8", "O4")],
    # Han et al.: train dense, prune gradually, retrain at 1/10 of the rate (retrain_lr_scale)
    ("pruning 80%", {"name": "pruning", "sparsity": 0.8, "start_epoch": 5, "end_epoch": 10}),
    ("mixed: TWN + Graham L4", {"name": "mixed", "compose": ["twn", {"name": "graham", "quantizer": "L4"}]}),
    ("mixed: k-bit 8/6/4 by depth", {"name": "mixed", "bits_by_depth": [8, 6, 4]}),
    # ActNN-style compressed saved activations, alone and composed (docs/schemes_memory.md)
    ("actnn 2", {"name": "actnn", "bits": 2}),
    ("actnn 4", {"name": "actnn", "bits": 4}),
    ("kbit W4/A4, bn_stash int8", {"name": "kbit", "weight_bits": 4, "act_bits": 4, "bn_stash": "int8"}),
    ("mixed: kbit W4/A4 + actnn 4",
     {"name": "mixed", "compose": [{"name": "kbit", "weight_bits": 4, "act_bits": 4}, {"name": "actnn", "bits": 4}]}),
    ("mixed: bnn + actnn 2", {"name": "mixed", "compose": ["bnn", {"name": "actnn", "bits": 2}]},
     {"optimizer": "adam", "lr": 0.005}),
    ("mixed: mcdonnell + actnn 2", {"name": "mixed", "compose": ["mcdonnell", {"name": "actnn", "bits": 2}]}),
    ("actnn 2, batch-norm 2", {"name": "actnn", "bits": 2, "bn_bits": 2}),
    ("mixed: mcdonnell + actnn 2, batch-norm 2",
     {"name": "mixed", "compose": ["mcdonnell", {"name": "actnn", "bits": 2, "bn_bits": 2}]}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", help="labels to run (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("digits", seed=args.seed)
    recipe = TrainRecipe(epochs=args.epochs, batch_size=64, lr=0.05, momentum=0.9, schedule="cosine",
                         weight_decay=1e-4, seed=args.seed, device="cpu")
    print(f"digits: {data.n_train} train / {data.n_test} test, model {args.model}(width={args.width}), "
          f"{args.epochs} epochs, SGD lr 0.05 cosine, batch 64, seed {args.seed}\n")
    print("| scheme | spec | model | epochs | optimizer | test accuracy | train accuracy | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for label, spec, *over in SCHEMES:
        if args.only and label not in args.only:
            continue
        torch.manual_seed(args.seed)
        scheme = build_scheme(copy.deepcopy(spec))
        model = scheme.convert(build_model(args.model, num_classes=data.num_classes, in_shape=data.in_shape,
                                           width=args.width))
        t0 = time.perf_counter()
        rec = recipe.model_copy(update=over[0]) if over else recipe
        res = train(model, scheme, data, rec)
        print(f"| {label} | `{spec}` | {args.model} w{args.width} | {res.epochs_run} | {rec.optimizer} lr {rec.lr} | "
              f"{res.final_test_acc:.3f} | "
              f"{res.final_train_acc:.3f} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
