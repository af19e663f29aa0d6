"""Measured stash bytes of one training step, fp32 versus each low-precision stash scheme.

For one real training step (forward, backward, SGD update) of a pre-activation ResNet (hwsim's
``resnet20``, CIFAR-sized 3x32x32 input, batch 128 by default) this prints, per scheme, the bytes
that ``torch.autograd.graph.saved_tensors_hooks`` sees saved (via
:func:`hwsim.quant.stash.measure_saved`):

* ``compressed``: the tensors the scheme compresses, fp32 run versus scheme run, same modules:
  the saved inputs of the weight layers whose declared stash is below 32 bits (McDonnell, BNN,
  k-bit; a quantized weight copy the layer also saves is booked apart, see
  ``SavedBytes.weight_copies``), or the batch-norms that store Q(N(x)) (Graham; fp32 BN keeps
  its float input, Graham's BN its b-bit code, 1/sqrt(var+eps) and its 2^b levels);
* ``step``: everything autograd kept for the whole step (parameters excluded), each storage once.

The ratio for a b-bit stash must be at least 0.875 x 32 / b (28x for 1 bit, 7x for 4 bits).

    python benchmarks/stash_memory.py [--batch 128] [--model resnet20]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F

from hwsim.models import build_model
from hwsim.quant.graham import GrahamBatchNorm
from hwsim.quant.layers import weight_layers
from hwsim.quant.stash import measure_saved
from hwsim.schemes import build_scheme

SCHEMES: list[tuple[str, object, int]] = [
    ("fp32", "fp32", 32),
    ("mcdonnell", "mcdonnell", 1),
    ("bnn", "bnn", 1),
    *[(f"graham {q}", {"name": "graham", "quantizer": q}, int(q[1:])) for q in
      ("L2", "L3", "L4", "L5", "U4", "U5", "U8", "O4")],
    ("kbit 4", {"name": "kbit", "weight_bits": 4, "act_bits": 4}, 4),
]


def one_step(model_name: str, spec: object, batch: int, seed: int = 0):
    torch.manual_seed(seed)
    scheme = build_scheme(spec)
    model = scheme.convert(build_model(model_name))
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    t0 = time.perf_counter()
    with measure_saved(model) as sb:
        out = model(x)
    F.cross_entropy(out, y).backward()
    opt.step()
    scheme.on_step_end(model, 1)
    return model, sb, time.perf_counter() - t0


def compressed_modules(model, label: str) -> list[str]:
    """Graham: the batch-norms that store Q(N(x)); others: weight layers with a stash below 32 bits."""
    if label.startswith("graham"):
        return [n for n, m in model.named_modules() if isinstance(m, GrahamBatchNorm)]
    return [n for n, m in weight_layers(model) if getattr(m, "hwsim_precision", None) is not None
            and m.hwsim_precision.stash.bits < 32]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--model", default="resnet20")
    args = ap.parse_args(argv)

    print(f"model {args.model}, input {args.batch}x3x32x32, one SGD step, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; bytes from saved_tensors_hooks (parameters excluded)")
    _, ref, ref_s = one_step(args.model, "fp32", args.batch)
    hdr = (f"{'scheme':<11} {'b':>2} {'what is compressed':<26} {'fp32 bytes':>12} {'scheme bytes':>12} "
           f"{'ratio':>7} {'need':>6} {'ok':>3} | {'step fp32':>11} {'step scheme':>11} {'ratio':>6} {'s':>5}")
    print(hdr)
    print("-" * len(hdr))
    failed = 0
    for label, spec, bits in SCHEMES:
        model, sb, secs = one_step(args.model, spec, args.batch)
        names = compressed_modules(model, label)
        what = ("BN N(x)" if label.startswith("graham") else "weight-layer inputs") + f" ({len(names)})"
        c_ref, c_new = ref.modules(names), sb.modules(names)
        ratio = c_ref / c_new if c_new else float("nan")
        need = 0.875 * 32 / bits if bits < 32 else 1.0
        ok = bits == 32 or ratio >= need
        failed += not ok
        print(f"{label:<11} {bits:>2} {what:<26} {c_ref:>12,} {c_new:>12,} {ratio:>7.2f} {need:>6.2f} "
              f"{'yes' if ok else 'NO':>3} | {ref.total:>11,} {sb.total:>11,} {ref.total / sb.total:>6.2f} "
              f"{secs:>5.1f}")
    print(f"fp32 step took {ref_s:.1f} s; {'all ratios meet 0.875 x 32/b' if not failed else f'{failed} FAILED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
