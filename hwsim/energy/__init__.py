"""Energy model: technology tables, op-energy rules by MAC type, memory placement, pricing.

    from hwsim.energy import load_tech, load_hierarchy, price
    rep = price(trace, load_tech("45nm"), hierarchy=load_hierarchy(None))
    # or with an accelerator model's accesses (accel_models.CycleReport):
    rep = price(trace, tech, hierarchy_for_accelerator(cycles.accelerator), accesses=cycles.accesses)

Torch-free. Every figure comes from a YAML table under ``configs/tech/`` with its source, and
every rule that extends the table is returned in ``rep.assumptions`` (see docs/energy.md).
"""

from hwsim.energy.hierarchy import Hierarchy, load_hierarchy, place
from hwsim.energy.ops import RULES, mac_energy
from hwsim.energy.price import EnergyReport, hierarchy_for_accelerator, price
from hwsim.energy.tech import TechTable, load_tech, node_factor

__all__ = ["EnergyReport", "Hierarchy", "RULES", "TechTable", "hierarchy_for_accelerator", "load_hierarchy", "load_tech", "mac_energy", "node_factor", "place", "price"]
