"""A small results store with two realistic design points, for report tests."""

from __future__ import annotations

from pathlib import Path

from hwsim.store import PointResult, Store

LAYERS = ["conv1", "layer1.0.conv1", "fc"]
PHASES = ["forward", "backward_data", "backward_weight", "update"]


def _layer_rows(scale: float, mac_type: str) -> list[tuple[str, str, str, float]]:
    rows = []
    for i, la in enumerate(LAYERS):
        rows += [(la, "forward", f"shape.{k}", v) for k, v in {"C": 3 + i, "K": 16 * (i + 1), "R": 3}.items()]
        for j, ph in enumerate(PHASES):
            base = (i + 1) * 1000 * (j + 1)
            if ph != "update":
                mt = mac_type if ph != "backward_weight" else "fp32"
                rows.append((la, ph, f"macs.{mt}", base * 10))
                rows.append((la, ph, f"effectual_macs.{mt}", base * 7))
                rows.append((la, ph, "cycles", base // 3 + 17))
                rows.append((la, ph, "utilization", 0.25 + 0.1 * j))
                rows.append((la, ph, "sram_reads.ifmap", base * 2))
                rows.append((la, ph, "dram_reads.filter", base // 2))
            rows.append((la, ph, "elementwise.update" if ph == "update" else "elementwise.relu", base))
            rows.append((la, ph, "traffic_bytes.weight", base * 4))
            rows.append((la, ph, "traffic_bytes.stash_write" if ph == "forward" else "traffic_bytes.grad_input", base))
            rows.append((la, ph, f"energy_pj.compute.{mac_type}", base * scale * 1.5))
            rows.append((la, ph, "energy_pj.sram", base * scale * 0.25))
            rows.append((la, ph, "energy_pj.dram", base * scale * 3.125))
    return rows


def make_store(path: Path) -> tuple[Path, list[str]]:
    ids = ["a1b2c3d4e5f60718293a4b5c", "ffee00112233445566778899"]
    with Store(path) as s:
        for pid, scheme, mt, scale, acc in ((ids[0], "fp32", "fp32", 4.6, 0.953), (ids[1], "bnn", "xnor_popcount", 0.05, 0.871)):
            s.write(PointResult(
                id=pid,
                config={"model": "resnet20", "dataset": "digits", "scheme": {"name": scheme}, "tech": "45nm",
                        "accelerator": "tpu_like", "recipe": {"epochs": 3, "lr": 0.1}},
                columns={"model": "resnet20", "dataset": "digits", "scheme": scheme, "family": scheme,
                         "bits_w": 32 if scheme == "fp32" else 1, "bits_a": 32 if scheme == "fp32" else 1,
                         "tech": "45nm", "accelerator": "tpu_like", "accuracy_source": "trained"},
                label=f"resnet20 / {scheme}",
                metrics={"accuracy": acc, "train_energy_pj_per_step": 123456.789 * scale,
                         "infer_energy_pj": 987.25 * scale, "model_size_bytes": 1088 if scheme == "bnn" else 34816,
                         "latency_cycles": 4521, "dram_bytes_per_step": 77777},
                layers=_layer_rows(scale, mt),
                curves=[(e, "test_acc", acc - 0.1 / e) for e in (1, 2, 3)],
                blobs={"assumptions": {"tech": {"name": "45nm", "source": "Horowitz ISSCC 2014",
                                                "fp32_mult_pj": 3.7},
                                       **({"accelerator": {"name": "tpu_like", "rows": 32, "cols": 32}}
                                          if scheme == "fp32" else {}),
                                       "rules": [{"mac_type": mt, "rule": "mult + add", "source": "Horowitz"}]},
                       # the bnn point names its accelerator only where the pipeline puts it: with the cycles
                       "cycles": {"train": {"accelerator": {"name": "tpu_like", "array": {"rows": 32, "cols": 32},
                                                            "trace": {"model": "resnet20"}}}}},
                versions={"hwsim": "0.1.0", "torch": "2.13.0"},
            ))
        s.write(PointResult(id="0badbad0badbad0badbad0b", config={"model": "lenet5", "scheme": {"name": "ttq"}},
                            status="failed", error="train: epoch 2 step 5: loss became nan",
                            columns={"model": "lenet5", "scheme": "ttq"}))
    return path, ids
