"""Run only SCALE-Sim v3's compute model (operand matrices -> demand matrices) on a topology.

    .venv-scalesim/bin/python benchmarks/scalesim_compute_only.py scale.cfg topology.csv conv|gemm > COMPUTE_ONLY.csv

Runs in the SCALE-Sim venv, importing scalesim's own classes (operand_matrix,
systolic_compute_{ws,os,is}); it skips the slow memory replay (double_buffered_scratchpad), so it
gives what SCALE-Sim's compute model decides (demand-matrix length, SRAM request counts, mapping
efficiency, compute utilization) for array shapes where a full run would take too long. SCALE-Sim's
report prints ``Total Cycles - Stall Cycles`` = demand rows - 1; the full runs cached beside these
confirm that on every layer. Output: one CSV row per layer.
"""

from __future__ import annotations

import sys


def main() -> None:
    from scalesim.compute.operand_matrix import operand_matrix
    from scalesim.compute.systolic_compute_is import systolic_compute_is
    from scalesim.compute.systolic_compute_os import systolic_compute_os
    from scalesim.compute.systolic_compute_ws import systolic_compute_ws
    from scalesim.layout_utils import layouts
    from scalesim.scale_config import scale_config
    from scalesim.topology_utils import topologies

    cfg_path, topo_path, kind = sys.argv[1], sys.argv[2], sys.argv[3]
    cfg = scale_config()
    cfg.read_conf_file(cfg_path)
    topo = topologies()
    topo.load_arrays(topofile=topo_path, mnk_inputs=(kind == "gemm"))
    topo.topo_calc_hyperparams()
    lay = layouts()
    lay.load_arrays(layoutfile=topo_path, mnk_inputs=(kind == "gemm"))
    systems = {"ws": systolic_compute_ws, "os": systolic_compute_os, "is": systolic_compute_is}
    print("LayerID, Compute Cycles, SRAM IFMAP Reads, SRAM Filter Reads, SRAM OFMAP Writes, "
          "Mapping Efficiency %, Compute Util %,")
    for i in range(topo.get_num_layers()):
        op = operand_matrix()
        op.set_params(config_obj=cfg, topoutil_obj=topo, layoututil_obj=lay, layer_id=i)
        _, ifm = op.get_ifmap_matrix()
        _, fil = op.get_filter_matrix()
        _, ofm = op.get_ofmap_matrix()
        cs = systems[cfg.get_dataflow()]()
        cs.set_params(config_obj=cfg, ifmap_op_mat=ifm, filter_op_mat=fil, ofmap_op_mat=ofm)
        _, _, ofmap_demand = cs.get_demand_matrices()
        print(f"{i}, {ofmap_demand.shape[0] - 1}, {cs.get_ifmap_requests()}, {cs.get_filter_requests()}, "
              f"{cs.get_ofmap_requests()}, {cs.get_avg_mapping_efficiency() * 100}, "
              f"{cs.get_avg_compute_utilization() * 100},", flush=True)
        del ifm, fil, ofm, ofmap_demand, cs, op


if __name__ == "__main__":
    main()
