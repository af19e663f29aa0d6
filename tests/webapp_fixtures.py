"""A small, realistic synthetic results store for the dashboard tests.

Built only with the store contract (:class:`hwsim.store.Store` / :class:`PointResult`), so
the dashboard is tested without training anything. The numbers are made up but
self-consistent the way the real pipeline's are: per-layer energies sum to the point's
energy metrics, MACs come from the layer shapes, traffic from the shapes and the bit
widths, and lower precision costs less.

``build_store(path)`` writes 12 finished points (3 schemes x 2 models x 2 accelerators),
one failed point and one running point, and returns the finished ids in write order.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from hwsim.formats import PHASES, TENSOR_CLASSES, TRAIN_PHASES
from hwsim.store import PointResult, Store

# scheme -> (family, bits_w, bits_a, mac type per phase, accuracy penalty)
SCHEMES: dict[str, tuple[str, int, int, dict[str, str], float]] = {
    "fp32": ("float", 32, 32, {p: "fp32" for p in PHASES}, 0.0),
    "twn": ("ternary", 2, 32, {"forward": "ternary", "backward_data": "ternary",
                               "backward_weight": "fp32", "inference": "ternary"}, 0.012),
    "bnn": ("binary", 1, 1, {"forward": "xnor_popcount", "backward_data": "sign_add",
                             "backward_weight": "sign_add", "inference": "xnor_popcount"}, 0.045),
}
# pJ per MAC by type (45 nm-ish, made up but ordered like the real table)
MAC_PJ = {"fp32": 4.6, "ternary": 0.12, "xnor_popcount": 0.02, "sign_add": 0.1}

# model -> (dataset, base accuracy, layers as (name, op, shape))
MODELS: dict[str, tuple[str, float, list[tuple[str, str, dict[str, int]]]]] = {
    "lenet5": ("mnist", 0.991, [
        ("conv1", "conv2d", {"N": 32, "C": 1, "H": 28, "W": 28, "K": 6, "R": 5, "S": 5, "P": 24, "Q": 24}),
        ("conv2", "conv2d", {"N": 32, "C": 6, "H": 12, "W": 12, "K": 16, "R": 5, "S": 5, "P": 8, "Q": 8}),
        ("fc1", "linear", {"N": 32, "C": 256, "K": 120}),
        ("fc2", "linear", {"N": 32, "C": 120, "K": 10}),
    ]),
    "mlp": ("digits", 0.962, [
        ("fc1", "linear", {"N": 32, "C": 64, "K": 128}),
        ("fc2", "linear", {"N": 32, "C": 128, "K": 64}),
        ("fc3", "linear", {"N": 32, "C": 64, "K": 10}),
    ]),
}
ACCELERATORS = {"eyeriss_like": (1.0, 168), "tpu_like": (0.8, 256)}   # (energy factor, PEs)
EPOCHS = 5
STEPS_PER_EPOCH = 50


def point_id(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def _layer_macs(op: str, s: dict[str, int]) -> int:
    if op == "conv2d":
        return s["N"] * s["K"] * s["P"] * s["Q"] * s["C"] * s["R"] * s["S"]
    return s["N"] * s["C"] * s["K"]


def _layer_sizes(op: str, s: dict[str, int]) -> tuple[int, int, int]:
    """(weights, inputs, outputs) element counts."""
    if op == "conv2d":
        return s["K"] * s["C"] * s["R"] * s["S"], s["N"] * s["C"] * s["H"] * s["W"], s["N"] * s["K"] * s["P"] * s["Q"]
    return s["C"] * s["K"], s["N"] * s["C"], s["N"] * s["K"]


def make_point(model: str, scheme: str, accel: str, sweep: str = "synthetic") -> PointResult:
    """One finished design point with per-layer rows for every phase, curves and blobs."""
    family, bw, ba, mts, penalty = SCHEMES[scheme]
    dataset, base_acc, layers = MODELS[model]
    efactor, pes = ACCELERATORS[accel]
    config = {"model": model, "dataset": dataset, "scheme": scheme, "accelerator": accel, "tech": "45nm",
              "batch": 32, "epochs": EPOCHS}
    pid = point_id(config)
    rows: list[tuple[str, str, str, float]] = []
    tot = {p: {"energy": 0.0, "macs": 0, "cycles": 0, "dram": 0} for p in PHASES}
    weight_bytes_total = 0
    for li, (name, op, shape) in enumerate(layers):
        macs = _layer_macs(op, shape)
        nw, ni, no = _layer_sizes(op, shape)
        weight_bytes_total += math.ceil(nw * bw / 8)
        for k, v in shape.items():
            rows.append((name, "forward", f"shape.{k}", v))
        for phase in PHASES:
            if phase == "update":
                m, mt = 0, None
                ew = {"update": 3 * nw}
                traffic = {"weight_master": 8 * nw, "grad_weight": 4 * nw, "optimizer_state": 8 * nw}
            else:
                m, mt = macs, mts[phase]
                ew = {"relu": no} if phase in ("forward", "inference") else {"relu_backward": no}
                w_b, a_b = math.ceil(nw * bw / 8), math.ceil(ni * ba / 8)
                traffic = {
                    "forward": {"weight": w_b, "input": a_b, "output": 4 * no, "stash_write": a_b},
                    "backward_data": {"weight": w_b, "grad_output": 4 * no, "grad_input": 4 * ni},
                    "backward_weight": {"stash_read": a_b, "grad_output": 4 * no, "grad_weight": 4 * nw},
                    "inference": {"weight": w_b, "input": a_b, "output": 4 * no},
                }[phase]
            assert set(traffic) <= set(TENSOR_CLASSES)
            sparsity = 0.1 + 0.05 * li if scheme != "fp32" else 0.0
            comp = {}
            if mt:
                rows.append((name, phase, f"macs.{mt}", m))
                rows.append((name, phase, f"effectual_macs.{mt}", int(m * (1 - sparsity))))
                comp[f"compute.{mt}"] = m * MAC_PJ[mt] * efactor
            for k, v in ew.items():
                rows.append((name, phase, f"elementwise.{k}", v))
            for k, v in traffic.items():
                rows.append((name, phase, f"traffic_bytes.{k}", v))
            nbytes = sum(traffic.values())
            comp["elementwise"] = 0.9 * sum(ew.values())
            comp["rf"] = 0.12 * m * efactor
            comp["sram"] = 1.5 * nbytes * efactor
            dram = nbytes if li == 0 or phase == "update" else nbytes // 2
            comp["dram"] = 160.0 * dram
            for k, v in comp.items():
                rows.append((name, phase, f"energy_pj.{k}", v))
            compute_cycles = math.ceil(m / pes) if m else math.ceil(sum(ew.values()) / 16)
            stall = dram // 64
            util = min(1.0, (m / pes) / max(1, compute_cycles + stall)) if m else 0.0
            rows += [(name, phase, "cycles", compute_cycles + stall), (name, phase, "compute_cycles", compute_cycles),
                     (name, phase, "stall_cycles", stall), (name, phase, "utilization", util),
                     (name, phase, "mapping_efficiency", 0.5 + 0.1 * li if m else 0.0)]
            t = tot[phase]
            t["energy"] += sum(comp.values())
            t["macs"] += m
            t["cycles"] += compute_cycles + stall
            t["dram"] += dram
    acc = round(base_acc - penalty - (0.002 if accel == "tpu_like" else 0.0), 4)
    batch = 32
    step_energy = sum(tot[p]["energy"] for p in TRAIN_PHASES)
    stash = sum(math.ceil(_layer_sizes(op, s)[1] * ba / 8) for _, op, s in layers)
    n_params = sum(_layer_sizes(op, s)[0] for _, op, s in layers)
    metrics = {
        "accuracy": acc, "error": round(1 - acc, 4),
        "train_energy_pj_per_step": step_energy,
        "train_energy_pj_per_epoch": step_energy * STEPS_PER_EPOCH,
        "infer_energy_pj": tot["inference"]["energy"] / batch,
        "stash_bytes": stash,
        "train_memory_bytes": stash + 16 * n_params,
        "model_size_bytes": weight_bytes_total,
        "latency_cycles": tot["inference"]["cycles"] / batch,
        "train_step_cycles": sum(tot[p]["cycles"] for p in TRAIN_PHASES),
        "dram_bytes_per_step": sum(tot[p]["dram"] for p in TRAIN_PHASES),
        "dram_bytes_infer": tot["inference"]["dram"] / batch,
        "macs_train_step": sum(tot[p]["macs"] for p in TRAIN_PHASES),
        "macs_infer": tot["inference"]["macs"] / batch,
        "utilization": 0.6 if accel == "tpu_like" else 0.7,
    }
    curves: list[tuple[float, str, float]] = []
    for e in range(1, EPOCHS + 1):
        frac = e / EPOCHS
        curves += [(e, "train_loss", 2.3 * math.exp(-2.5 * frac) + penalty),
                   (e, "train_acc", acc * (0.8 + 0.2 * frac) + 0.005),
                   (e, "test_acc", acc * (0.8 + 0.2 * frac))]
        for li, (name, _, _) in enumerate(layers):
            if scheme != "fp32":
                curves += [(e, f"sparsity.{name}.weight", 0.3 + 0.02 * e + 0.01 * li),
                           (e, f"sparsity.{name}.input", 0.5 - 0.01 * e)]
    assumptions = {
        "technology": "45 nm, 0.9 V (Horowitz ISSCC 2014 table, scaled)",
        "dram_pj_per_byte": 160.0,
        "sram": "on-chip buffer 108 KiB, 1.5 pJ/byte",
        "batch": batch,
        "stash": "activations saved at the stash format's width",
    }
    return PointResult(
        id=pid, config=config, sweep=sweep, label=f"{model} {scheme} {accel}",
        columns={"model": model, "dataset": dataset, "scheme": scheme, "family": family, "bits_w": bw, "bits_a": ba,
                 "tech": "45nm", "accelerator": accel,
                 "accuracy_source": "literature" if scheme == "bnn" and model == "lenet5" else "trained"},
        metrics=metrics, layers=rows, curves=curves,
        blobs={"assumptions": assumptions, "config": config,
               "energy": {"total_pj": step_energy}, "cycles": {"total": metrics["train_step_cycles"]},
               "trace": {"model": model, "scheme": scheme, "batch": batch}},
        versions={"hwsim": "0.1.0"}, started=1_700_000_000.0, finished=1_700_000_012.5,
    )


def all_points() -> list[PointResult]:
    return [make_point(m, s, a) for m in MODELS for s in SCHEMES for a in ACCELERATORS]


FAILED_CONFIG = {"model": "lenet5", "dataset": "mnist", "scheme": "lq", "accelerator": "tpu_like", "tech": "45nm"}
FAILED_ERROR = "UserError: scheme lq: bits must be in 1..4, got 8"


def build_store(path: str | Path, n: int | None = None) -> list[str]:
    """Write the synthetic store at ``path`` (its first ``n`` finished points if given); return their ids."""
    pts = all_points()[: n if n is not None else None]
    with Store(path) as s:
        for p in pts:
            s.write(p)
        s.write(PointResult(id=point_id(FAILED_CONFIG), config=FAILED_CONFIG, status="failed", error=FAILED_ERROR,
                            sweep="synthetic", columns={k: FAILED_CONFIG.get(k) for k in ("model", "dataset", "scheme")}))
        s.mark_running("feedfacefeedface", {"model": "mlp", "scheme": "lq"}, sweep="synthetic")
    return [p.id for p in pts]
