"""Instrumented training: a callback for :func:`hwsim.train.train`.

Kept off the hot path on purpose (the instrumented step must cost at most ~5% more):
  * every step: a forward pre-hook on the model root notes the batch shape (a tuple compare);
  * every ``sample_every`` steps: :class:`~hwsim.count.sparsity.SparsitySampler` hooks the
    weight layers for one forward pass (zero weights, zero inputs, exact effectual MACs);
  * once per distinct step signature (input shape), at the end of an epoch: a meta-tensor
    trace of the step prices its shapes (work per epoch = sum over signatures of steps x trace);
  * at the end of training: one real step (on a copy of the model, with a batch seen in
    training) under the counting mode, giving the measured stash and real sparsity.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from hwsim.count.sparsity import SparsitySampler
from hwsim.trace import EpochRow, SparsitySample, Trace, TrainingRun


def _scale(totals: dict[str, dict[str, int]], k: int, into: dict[str, dict[str, int]]) -> None:
    for group, d in totals.items():
        g = into.setdefault(group, {})
        for name, v in d.items():
            g[name] = g.get(name, 0) + v * k


class CountingCallback:
    """Records the trace of a real training step and per-layer sparsity timelines.

    After training: ``trace`` (the real step's :class:`~hwsim.trace.Trace`, with
    ``steps_per_epoch`` and ``meta.training``), ``timeline`` (layer -> :class:`~hwsim.trace.SparsitySample`
    per sampled step), ``epochs`` (the loop's epoch metrics),
    ``signatures`` (input shape -> steps) and ``epoch_totals`` (work of the last epoch).
    """

    def __init__(self, scheme: Any = None, *, sample_every: int = 50, model_name: str | None = None,
                 real_trace: bool = True, optimizer: str = "sgd_momentum"):
        if sample_every < 1:
            raise ValueError("sample_every must be >= 1")
        self.scheme = scheme
        self.sample_every = sample_every
        self.model_name = model_name
        self.real_trace = real_trace
        self.optimizer = optimizer
        self.trace: Trace | None = None
        self.shape_traces: dict[tuple[int, ...], Trace] = {}
        self.signatures: Counter = Counter()
        self._epoch_sigs: Counter = Counter()
        self.epoch_totals: dict[str, dict[str, int]] = {}
        self.epochs: list[EpochRow] = []
        self.timeline: dict[str, list[SparsitySample]] = {}
        self._sampler: SparsitySampler | None = None
        self._batch: torch.Tensor | None = None
        self._handle: Any = None
        self._last_sig: tuple[int, ...] | None = None
        self._step = 0
        self._epoch = 1

    # -- hooks into the training loop ------------------------------------------------------
    def on_train_begin(self, model: nn.Module, optimizer: Any = None) -> None:
        self._sampler = SparsitySampler(model)
        self._handle = model.register_forward_pre_hook(self._note_batch)
        self._sampler.arm(step=0, epoch=1)

    def _note_batch(self, module: nn.Module, inputs: Any) -> None:
        if not module.training or not inputs or not isinstance(inputs[0], torch.Tensor):
            return
        x = inputs[0]
        sig = tuple(x.shape)
        self._last_sig = sig
        if self._batch is None:
            self._batch = x.detach().clone()

    def on_step(self, model: nn.Module, step: int, epoch: int, loss: float) -> None:
        if self._last_sig is not None:
            self.signatures[self._last_sig] += 1
            self._epoch_sigs[self._last_sig] += 1
        self._step, self._epoch = step, epoch
        if step % self.sample_every == 0 and self._sampler is not None:
            self._sampler.arm(step=step, epoch=epoch)

    def on_epoch_end(self, model: nn.Module, epoch: int, row: EpochRow) -> None:
        self.epochs.append(row)
        totals: dict[str, dict[str, int]] = {}
        for sig, n in self._epoch_sigs.items():
            tr = self._shape_trace(model, sig)
            if tr is not None:
                _scale(tr.totals(), n, totals)
        if totals:
            self.epoch_totals = totals
        self._epoch_sigs = Counter()

    def on_train_end(self, model: nn.Module, result: Any) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        if self._sampler is not None:
            self._sampler.disarm()
            self.timeline = self._sampler.timeline
        if self.real_trace and self._batch is not None:
            self.trace = self._real_trace(model)
        elif self.shape_traces:
            self.trace = next(iter(self.shape_traces.values()))
        if self.trace is not None:
            steps = max(self.signatures.values(), default=0)
            epochs = max(len(self.epochs), 1)
            self.trace.steps_per_epoch = int(round(sum(self.signatures.values()) / epochs)) if steps else 0
            self.trace.meta = replace(self.trace.meta, training=TrainingRun(
                sparsity_timeline=self.timeline, epochs=self.epochs, epoch_totals=self.epoch_totals,
                step_signatures={"x".join(map(str, k)): v for k, v in self.signatures.items()}))

    # -- tracing ----------------------------------------------------------------------------
    def _copy(self, model: nn.Module) -> nn.Module:
        # hooks of ours must not travel with the copy
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.remove()
        armed = self._sampler.pause() if self._sampler is not None else False
        try:
            return copy.deepcopy(model)
        finally:
            if handle is not None:
                self._handle = model.register_forward_pre_hook(self._note_batch)
            if armed:
                self._sampler.resume()

    def _shape_trace(self, model: nn.Module, sig: tuple[int, ...]) -> Trace | None:
        if sig in self.shape_traces:
            return self.shape_traces[sig]
        from hwsim.count.api import trace

        net = self._copy(model)
        tr = trace(net, self.scheme, batch=sig[0], input_shape=sig[1:], device="meta", convert=False,
                   model_name=self.model_name, optimizer=self.optimizer)
        self.shape_traces[sig] = tr
        return tr

    def _real_trace(self, model: nn.Module) -> Trace:
        from hwsim.count.api import trace

        net = self._copy(model)
        x = self._batch
        dev = str(x.device.type)
        return trace(net, self.scheme, data=(x, None), device=dev, convert=False, model_name=self.model_name,
                     optimizer=self.optimizer)
