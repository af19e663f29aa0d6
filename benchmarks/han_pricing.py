"""Tables for docs/sparsity.md: Han et al.'s pruned networks, stored and priced.

    python benchmarks/han_pricing.py [--accelerator eyeriss] [--models lenet300 alexnet vgg16]

1. Storage formats: bytes of LeNet-300-100's weight layers (MNIST shapes) pruned to Han's per-layer
   sparsities, random normal weights pruned by magnitude, each format encoded for real
   (hwsim.quant.sparse_formats) - Deep Compression's relative index with fp32 values, with a 5-bit
   codebook, and with Huffman coding on top.
2. Per network (the rows of configs/literature/han2015.yaml, meta-device traces at batch 1): parameters
   kept (Han's 12x / 9x / 13x), model size in the relative format, and inference energy and cycles on
   the accelerator with zero weights not exploited, gated and skipped.

Figures go through hwsim.units (bytes in kB/MB, energy in µJ/mJ, ratios as ``12 ×``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml

from hwsim import units

HAN = Path(__file__).resolve().parents[1] / "configs" / "literature" / "han2015.yaml"


def storage_table() -> None:
    from hwsim.quant.sparse_formats import StorageSpec, encode

    rng = np.random.default_rng(0)
    layers = {"fc1": ((300, 784), 0.92), "fc2": ((100, 300), 0.91), "fc3": ((10, 100), 0.74)}
    ws = {}
    for name, (shape, s) in layers.items():
        w = rng.standard_normal(shape).astype(np.float32)
        w[np.abs(w) < np.quantile(np.abs(w), s)] = 0
        ws[name] = w
    specs = [("dense", StorageSpec("dense")), ("bitmask", StorageSpec("bitmask")), ("csr", StorageSpec("csr")),
             ("relative (5-bit index)", StorageSpec("relative", "fc")),
             ("relative + 5-bit codebook", StorageSpec("relative", "fc", 32, 5)),
             ("relative + 5-bit codebook + Huffman", StorageSpec("relative", "fc", 32, 5, True))]
    dense = sum(len(encode(w, specs[0][1])) for w in ws.values())
    print("LeNet-300-100 weights (fc1 92%, fc2 91%, fc3 74% pruned), bytes as encoded")
    print(f"{'format':38} {'size':>9} {'x smaller':>9}")
    for label, spec in specs:
        b = sum(len(encode(w, spec)) for w in ws.values())
        print(storage_row(label, b, dense))


def storage_row(label: str, nbytes: int, dense: int) -> str:
    """One format's line: its encoded size and how many times smaller than dense it is."""
    return f"{label:38} {units.fmt(nbytes, 'bytes'):>9} {units.fmt(dense / nbytes, 'ratio'):>9}"


def network_row(name: str, params: int, kept: float, size_bytes: float, smaller: float, support: str,
                energy_pj: float, cycles: float) -> str:
    """One pricing line: parameters in full, size, energy and cycles with SI prefixes, ratios as ``12 ×``."""
    return (f"{name:9} {units.number(params):>12} {units.number(int(kept)):>11} "
            f"{units.fmt(params / kept, 'ratio'):>7} {units.fmt(size_bytes, 'bytes'):>9} "
            f"{units.fmt(smaller, 'ratio'):>9} {support:>8} {units.fmt(energy_pj, 'pJ', 4):>9} "
            f"{units.fmt(cycles, 'cycles', 4):>14}")


def network_table(models: list[str], accelerator: str) -> None:
    from hwsim.count import trace
    from hwsim.energy import hierarchy_for_accelerator, price
    from hwsim.hardware import simulate_trace
    from hwsim.models import MODELS, build_model, load_all
    from hwsim.quant.layers import weight_layers
    from hwsim.schemes import build_scheme

    load_all()
    rows = {r["id"]: r for r in yaml.safe_load(HAN.read_text())["rows"]}
    print(f"\nHan et al. per-layer sparsities priced on {accelerator} (45 nm, inference batch 1)")
    print(f"{'network':9} {'params':>12} {'kept':>11} {'x fewer':>7} {'size':>9} {'x smaller':>9} "
          f"{'support':>8} {'energy':>9} {'cycles':>14}")
    for model in models:
        pr = rows[f"han15-{model}-pruned"]
        spec = MODELS.get(pr["model"])          # AlexNet is Caffe's (alexnet_caffe, 3x227x227), as Han's
        shape, classes = tuple(spec.default_input), spec.default_classes
        net = build_model(pr["model"], num_classes=classes, in_shape=shape)
        total = sum(p.numel() for p in net.parameters())
        sch = build_scheme(pr["scheme"])
        kept = sum(m.weight.numel() * (1 - sch.layer_target(n, m)) + (m.bias.numel() if m.bias is not None else 0)
                   for n, m in weight_layers(net))
        kw = {"batch": 1, "input_shape": shape, "num_classes": classes, "mode": "infer", "device": "meta"}
        t_ref, t_pr = trace(net, build_scheme("fp32"), **kw), trace(net, sch, **kw)
        for label, tr, support in (("fp32", t_ref, "none"), ("pruned", t_pr, "none"), ("pruned", t_pr, "gating"),
                                   ("pruned", t_pr, "skipping")):
            from hwsim.hardware import resolve_accelerator

            acc = resolve_accelerator(accelerator).to_dict()
            acc["sparsity"] = {"weights": support}
            cyc = simulate_trace(tr, acc)
            e = price(tr, "45nm", hierarchy_for_accelerator(cyc.accelerator), cyc.accesses,
                      sparsity=cyc.accelerator.sparsity.to_dict())
            k = total if label == "fp32" else kept
            print(network_row(model if label == "fp32" else "  pruned", total, k, tr.model_size_bytes,
                              t_ref.model_size_bytes / tr.model_size_bytes, support, e.infer_pj_per_sample,
                              cyc.totals["total_cycles"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accelerator", default="eyeriss")
    ap.add_argument("--models", nargs="+", default=["lenet300", "alexnet", "vgg16"])
    args = ap.parse_args()
    storage_table()
    network_table(args.models, args.accelerator)


if __name__ == "__main__":
    main()
