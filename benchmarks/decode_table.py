"""Six decode metrics of a store by model and scheme, through hwsim's unit formatter:

    python benchmarks/decode_table.py STORE   (e.g. the store of configs/sweeps/llm_decode.yaml)
"""
import sys

from hwsim.store import Store
from hwsim.units import fmt

cols = [("macs_decode_per_token", "MACs", "MACs/token"), ("kv_cache_bytes_per_token", "bytes", "KV/token"),
        ("dram_bytes_decode_per_token", "bytes", "DRAM/token"), ("decode_energy_pj_per_token", "pJ", "energy/token"),
        ("decode_latency_us_per_token", "us", "latency/token"), ("prefill_latency_us", "us", "prefill")]
df = Store(sys.argv[1], readonly=True).points()
print(f"{'model':11s} {'scheme':7s}" + "".join(f"{h:>14s}" for _, _, h in cols))
for _, r in df.sort_values(["model"], kind="stable").iterrows():
    print(f"{r['model']:11s} {r['scheme']:7s}" + "".join(f"{fmt(r[c], u):>14s}" for c, u, _ in cols))
