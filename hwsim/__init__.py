"""hwsim: hardware cost of low-precision neural-network training and inference.

Kept import-light on purpose: nothing here imports torch, so `hwsim simulate`,
`report`, `pareto` and `serve` start fast.
"""

__version__ = "0.1.0"
