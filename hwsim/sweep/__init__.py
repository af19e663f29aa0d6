"""Design-space sweeps: YAML schema, expansion to design points, runners, Pareto fronts and search.

Torch-free at import; the pipeline that trains and prices a point is imported by the workers.
"""
