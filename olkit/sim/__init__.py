"""Vectorised agent-based simulation of a data contribution economy under adversarial farming.

>>> from olkit.sim import SimConfig, simulate
>>> simulate(SimConfig(n_agents=200, epochs=5)).epochs.height
5
"""

from olkit.sim.config import ARCHETYPE_NAMES, ITEM_KINDS, SimConfig, ValidatorModel
from olkit.sim.engine import METRICS, SimResult, Simulation, simulate
from olkit.sim.sweep import bands, grid, random_points, sweep

__all__ = ["ARCHETYPE_NAMES", "ITEM_KINDS", "METRICS", "SimConfig", "SimResult", "Simulation",
           "ValidatorModel", "bands", "grid", "random_points", "simulate", "sweep"]
