"""Wall time to count and price one training step of GPT-2 small and Llama-2-7B under each format
scheme (meta tensors, 45 nm table, default hierarchy).

    python benchmarks/format_pricing_time.py [--tokens 512] [--schemes fp32 bf16 fp8 mxfp8 mxfp4 nvfp4]

Prints one row per (model, scheme): seconds to trace, seconds to price, and the step energy.
"""

from __future__ import annotations

import argparse
import time

from hwsim.count import trace
from hwsim.energy import load_tech, price
from hwsim.workload import parse_input_shape


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--models", nargs="*", default=["gpt2_small", "llama2_7b"])
    ap.add_argument("--schemes", nargs="*", default=["fp32", "bf16", "fp8", "mxfp8", "mxfp6", "mxfp4", "nvfp4"])
    args = ap.parse_args()
    tech = load_tech("45nm")
    print("| model | scheme | trace s | price s | total s | training step energy |")
    print("|---|---|---:|---:|---:|---:|")
    for model in args.models:
        for scheme in args.schemes:
            t0 = time.perf_counter()
            tr = trace(model, scheme, batch=1, input_shape=parse_input_shape(f"tokens:{args.tokens}"), device="meta")
            t1 = time.perf_counter()
            rep = price(tr, tech)
            t2 = time.perf_counter()
            print(f"| {model} | {scheme} | {t1 - t0:.2f} | {t2 - t1:.2f} | {t2 - t0:.2f} | "
                  f"{rep.train_step_pj / 1e12:.4g} J |", flush=True)


if __name__ == "__main__":
    main()
