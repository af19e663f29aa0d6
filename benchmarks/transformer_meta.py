"""Seconds to count one training step of GPT-2 small (sequence 1024) and Llama-2-7B (sequence 4096,
all 32 layers) on meta tensors, with the MACs per token against 6 N + 12 L d s FLOPs per token.

    python benchmarks/transformer_meta.py

Targets (issue 15): under 5 s each. Times depend on the machine's load; say so when quoting them.
"""

from __future__ import annotations

import time

from hwsim.count import trace


def main() -> None:
    for name, seq, layers, dim in (("gpt2_small", 1024, 12, 768), ("llama2_7b", 4096, 32, 4096)):
        t0 = time.perf_counter()
        tr = trace(name, input_shape=f"tokens:{seq}", batch=1, device="meta", optimizer="sgd")
        dt = time.perf_counter() - t0
        macs = sum(sum(r.macs.values()) for r in tr.records if r.phase != "update")
        n = tr.param_count
        flops_tok = 2 * macs / seq
        published = 6 * n + 12 * layers * dim * seq
        print(f"{name:11s} seq {seq:5d}: {dt:5.2f} s to count a training step; "
              f"{flops_tok / 1e9:7.3f} GFLOP/token vs 6N + 12Lds = {published / 1e9:7.3f} "
              f"(ratio {flops_tok / published:.4f}); N = {n:,}")


if __name__ == "__main__":
    main()
