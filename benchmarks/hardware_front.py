"""Figure for docs/hardware_space.md: energy vs latency vs area of fp32 and BNN on tpu_like variants.

    python benchmarks/hardware_front.py [--db results/hardware_search.db] [--out docs/img/hardware_front.png]

Reads the store benchmarks/hardware_search.py fills (ResNet-18 ImageNet shapes, 648 accelerators per
scheme); marks each scheme's Pareto front over (infer_energy_pj, latency_us, area_mm2); writes a PNG
(plotly + kaleido) and prints the front sizes and extremes.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    import plotly.graph_objects as go

    from hwsim.store import Store
    from hwsim.sweep.pareto import non_dominated
    from hwsim.units import fmt

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="results/hardware_search.db")
    ap.add_argument("--out", default="docs/img/hardware_front.png")
    ap.add_argument("--schemes", nargs="+", default=["fp32", "bnn"])
    args = ap.parse_args()
    with Store(args.db, readonly=True) as s:
        df = s.points(status="done")
    objs = ["infer_energy_pj", "latency_us", "area_mm2"]
    fig = go.Figure()
    for sch, sym in zip(args.schemes, ("circle", "diamond", "square", "cross")):
        g = df[df.scheme == sch]
        front = non_dominated(g[objs].to_numpy(float))
        f = g[front]
        print(f"{sch}: {len(g)} points, front {len(f)}; energy {fmt(f.infer_energy_pj.min(), 'pJ')}.."
              f"{fmt(f.infer_energy_pj.max(), 'pJ')}, latency {fmt(f.latency_us.min(), 'us')}.."
              f"{fmt(f.latency_us.max(), 'us')}, area {fmt(f.area_mm2.min(), 'mm2')}..{fmt(f.area_mm2.max(), 'mm2')}")
        fig.add_trace(go.Scatter(x=g.latency_us, y=g.infer_energy_pj / 1e6, mode="markers", name=f"{sch} (all)",
                                 marker={"symbol": sym, "size": 4, "color": "lightgray"}))
        fig.add_trace(go.Scatter(x=f.latency_us, y=f.infer_energy_pj / 1e6, mode="markers",
                                 name=f"{sch} front", marker={"symbol": sym, "size": 9, "color": f.area_mm2,
                                                              "colorscale": "Viridis", "showscale": sch == args.schemes[0],
                                                              "colorbar": {"title": "area mm2"}}))
    fig.update_layout(title="ResNet-18 inference on tpu_like variants: Pareto front over energy, latency, area",
                      xaxis={"title": "latency per image (us)", "type": "log"},
                      yaxis={"title": "energy per image (uJ)", "type": "log"}, width=1000, height=650,
                      legend={"orientation": "h", "y": -0.15})
    fig.write_image(args.out)
    print(f"wrote {args.out}")
    assert np.isfinite(df[objs].to_numpy(float)).all()


if __name__ == "__main__":
    main()
