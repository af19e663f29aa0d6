"""accel_models: cycle-level accelerator models, usable without torch or hwsim.

    import accel_models as am
    acc = am.load_accelerator("configs/accelerators/tpu_like.yaml")
    layers = am.read_topology("resnet18.csv")            # SCALE-Sim conv or GEMM topology
    rep = am.simulate(layers, acc)                        # -> am.CycleReport
    rep.rows, rep.totals, rep.to_dict(), rep.to_csv()    # rows: am.CycleRow, one per work item
    rep.accelerator                                       # the Accelerator that ran
    rep.accesses.of("conv1", "forward")                   # -> [am.Access(level, buffer, rw, bytes)]

Systolic arrays (ws/os/is) reproduce SCALE-Sim v3's compute cycles and SRAM access counts in closed
form (:mod:`accel_models.systolic`); PEs are precision-aware (:mod:`accel_models.pe`); SRAM/DRAM
traffic and stalls come from an analytical double-buffer model (:mod:`accel_models.memory`);
training phases map to transposed GEMMs and a vector unit (:mod:`accel_models.training`).
"""

from accel_models.accesses import Access, MemoryAccesses
from accel_models.area import AreaReport, accelerator_area, load_area_table
from accel_models.config import (
    Accelerator,
    apply_overrides,
    flatten_overrides,
    load_accelerator,
    overridable_fields,
    read_scalesim_cfg,
    read_topology,
)
from accel_models.errors import ConfigError
from accel_models.layers import ConvLayer, GemmLayer, Operands, VectorOp, touched
from accel_models.pe import PE, PE_KINDS, build_pe, derive_mac_type, register_pe
from accel_models.report import COLUMNS, CycleReport, CycleRow, SimulatedWorkload
from accel_models.sim import WorkKey, simulate, simulate_layer, work_keys
from accel_models.systolic import DATAFLOWS, ArrayRun, run_gemm
from accel_models.training import operands, parse_format, phase_gemms, training_step, update_op

__all__ = [
    "Access", "Accelerator", "MemoryAccesses", "AreaReport", "ArrayRun", "accelerator_area", "apply_overrides", "flatten_overrides",
    "load_area_table", "overridable_fields", "touched", "COLUMNS", "ConfigError", "ConvLayer", "CycleReport", "CycleRow", "DATAFLOWS", "GemmLayer",
    "Operands", "PE", "PE_KINDS", "VectorOp", "build_pe", "derive_mac_type", "load_accelerator", "operands",
    "parse_format", "phase_gemms", "read_scalesim_cfg", "read_topology", "register_pe", "run_gemm", "simulate",
    "SimulatedWorkload", "simulate_layer", "training_step", "update_op", "WorkKey", "work_keys",
]
