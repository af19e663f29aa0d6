"""Time to price ResNet-50 at paper scale (224x224, batch 256, a full training step: forward,
backward_data, backward_weight, update, plus the inference pass) on meta tensors.

    python benchmarks/paper_scale.py [--model resnet50] [--batch 256] [--scheme fp32] [--repeat 3]

Prints the first call (which pays torch's one-time lazy import of ``torch._dynamo``, pulled in by
the first meta kernel) and the best of the following calls, each producing the trace of both modes,
its summary and its JSON text. Target: under 2 s.
"""

from __future__ import annotations

import argparse
import json
import time


def report(model: str, scheme: str, batch: int, input_shape: tuple[int, ...]) -> tuple[float, dict]:
    from hwsim.count import summary, trace

    t0 = time.perf_counter()
    tr = trace(model, scheme, batch=batch, input_shape=input_shape, device="meta", mode="train")
    inf = trace(model, scheme, batch=batch, input_shape=input_shape, device="meta", mode="infer")
    s = summary(tr)
    text = json.dumps({"train": tr.to_dict(), "infer": inf.to_dict(), "summary": s}, default=str)
    dt = time.perf_counter() - t0
    return dt, {"layers": len(tr.layers), "records": len(tr.records) + len(inf.records), "json_chars": len(text),
                "forward_macs": sum(s["macs_by_phase"]["forward"].values()),
                "step_macs": sum(sum(d.values()) for d in s["macs_by_phase"].values()),
                "stash_bytes": tr.stash_bytes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--scheme", default="fp32")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--input", default="3x224x224")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    shape = tuple(int(v) for v in a.input.split("x"))
    t0 = time.perf_counter()
    import torch  # noqa: F401

    import hwsim.count  # noqa: F401
    print(f"import torch + hwsim.count: {time.perf_counter() - t0:.2f} s (not counted below)")
    first, info = report(a.model, a.scheme, a.batch, shape)
    rest = [report(a.model, a.scheme, a.batch, shape)[0] for _ in range(max(a.repeat - 1, 0))]
    print(f"{a.model} / {a.scheme}, batch {a.batch}, input {a.input}: {info['layers']} layers, "
          f"{info['records']} records, forward {info['forward_macs']:,} MACs, step {info['step_macs']:,} MACs, "
          f"stash {info['stash_bytes']:,} B")
    print(f"full report (train step + inference + summary + JSON), first call: {first:.2f} s")
    if rest:
        print(f"full report, best of {len(rest)} later calls: {min(rest):.2f} s")
    print(f"target < 2 s: {'met' if min([first, *rest]) < 2.0 else 'NOT met'} (best), "
          f"{'met' if first < 2.0 else 'NOT met'} (first call)")


if __name__ == "__main__":
    main()
