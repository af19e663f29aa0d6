"""Instrumented counting: MACs by operand type, element-wise work, memory traffic and the stash,
per layer and per phase, on real training steps or on meta tensors (see docs/counting.md).

``trace(model, scheme, ...) -> hwsim.trace.Trace`` prices one step; ``CountingCallback`` plugs
into the training loop and records the trace of a real step and per-layer sparsity timelines.
"""

from hwsim.count.api import summary, trace

__all__ = ["trace", "summary", "CountingCallback"]


def __getattr__(name: str):
    if name == "CountingCallback":
        from hwsim.count.callback import CountingCallback

        return CountingCallback
    raise AttributeError(name)
