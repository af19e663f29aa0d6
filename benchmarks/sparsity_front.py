"""Figure for docs/sparsity.md: accuracy versus inference energy of pruning levels on eyeriss, with and
without skipping zero weights.

    hwsim sweep configs/sweeps/sparsity_front.yaml --workers 2
    python benchmarks/sparsity_front.py [--db results/sparsity_front.db] [--out docs/img/sparsity_front.png]

Prints one row per point (sparsity, support, accuracy, energy, cycles, model size) and writes a PNG
(plotly + kaleido).
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from hwsim.store import Store

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="results/sparsity_front.db")
    ap.add_argument("--out", default="docs/img/sparsity_front.png")
    args = ap.parse_args()
    with Store(args.db, readonly=True) as s:
        df = s.points(status="done")
    rows = []
    for _, p in df.iterrows():
        cfg = p["config"] if isinstance(p.get("config"), dict) else json.loads(p["config"])
        sp = cfg["scheme"].get("sparsity", 0.0)
        support = "skipping" if "sparsity.weights=skipping" in str(p["label"]) else "none"
        rows.append((float(sp), support, float(p["accuracy"]),
                     float(p["infer_energy_pj"]), float(p["latency_cycles"]), float(p["model_size_bytes"])))
    rows.sort()
    print(f"{'sparsity':>8} {'support':>9} {'accuracy':>8} {'energy uJ':>9} {'cycles':>9} {'size KB':>8}")
    for r in rows:
        print(f"{r[0]:8.2f} {r[1]:>9} {r[2]:8.4f} {r[3] / 1e6:9.4f} {r[4]:9.0f} {r[5] / 1024:8.1f}")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("accuracy vs energy per inference",
                                                        "accuracy vs cycles per inference"))
    for support, sym in (("none", "circle"), ("skipping", "diamond")):
        g = [r for r in rows if r[1] == support]
        for col, xs in ((1, [r[3] / 1e6 for r in g]), (2, [r[4] for r in g])):
            fig.add_trace(go.Scatter(x=xs, y=[100 * r[2] for r in g], mode="lines+markers+text",
                                     name=f"eyeriss, zero weights: {support}", showlegend=col == 1,
                                     marker={"symbol": sym, "size": 9, "color": "#636efa" if support == "none"
                                             else "#ef553b"},
                                     text=[f"{r[0]:.0%}" for r in g], textposition="top center"), row=1, col=col)
    fig.update_xaxes(title="energy per inference (uJ)", type="log", row=1, col=1)
    fig.update_xaxes(title="latency (cycles)", type="log", row=1, col=2)
    fig.update_yaxes(title="test accuracy (%)", row=1, col=1)
    fig.update_layout(title="LeNet-300-100 on digits, pruning levels 0-99% on eyeriss (45 nm, batch 1)",
                      width=1200, height=550, legend={"orientation": "h", "y": -0.18})
    fig.write_image(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
