"""Load once what a worker needs to trace and price, so the processes forked afterwards start with it.

A fresh worker would otherwise pay, each: importing torch and the pricing modules, parsing the
default technology, hierarchy and area tables, and torch's first meta-tensor operations (it registers
its meta kernels and decompositions lazily, on first use; about as much CPU as tracing a ResNet). A search forks its workers from a process that ran
:func:`warm` (:meth:`hwsim.sweep.runner.WorkerPool.start`), so that cost is paid once.

Nothing here starts a thread: torch runs on meta tensors only, so no intra-op pool is created.
"""

from __future__ import annotations


def warm(count: bool = True) -> None:
    """Count one small training step and inference pass on meta tensors and price them on tpu_like;
    without ``count`` (the workers' traces came from the trace cache), load the pricing tables only."""
    import accel_models
    from hwsim import pipeline
    from hwsim.energy import load_hierarchy, load_tech
    from hwsim.hardware import resolve_accelerator

    pipeline.prepare()   # the evaluator the workers run, and the imports pricing needs
    if not count:
        resolve_accelerator("tpu_like")
        load_tech()
        load_hierarchy()
        accel_models.load_area_table()
        return
    from torch import nn

    from hwsim.count import trace
    from hwsim.evaluate import WorkloadTraces, price_traces

    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    tr, ti = (trace(net, None, batch=2, input_shape=(3, 8, 8), num_classes=10, mode=mode, device="meta",
                    fallback=False) for mode in ("train", "infer"))
    price_traces(WorkloadTraces(train=tr, infer=ti), resolve_accelerator("tpu_like"), load_tech())
    load_hierarchy()
    accel_models.load_area_table()
