"""ONNX ``LSTM``, ``GRU`` and ``RNN`` nodes as torch recurrent layers (onnx2torch has no converter).

Each node becomes one single-layer ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` (bidirectional when the
node is), so it is counted by the recurrent formulas and seen by schemes as the layer it is. The
ONNX weights are re-ordered into torch's gate order:

* LSTM: ONNX stacks the gates i, o, f, c; torch i, f, g(=c), o;
* GRU: ONNX z, r, h; torch r, z, n. torch computes the candidate as ``W_n x + b_in + r * (R_n h + b_hn)``,
  which is ONNX's ``linear_before_reset=1`` (what torch exports); ``linear_before_reset=0`` applies the
  reset gate before the recurrent product and runs as an explicit loop of the same products;
* ``B`` is ``[Wb, Rb]``: torch's ``bias_ih`` and ``bias_hh``.

Outputs keep ONNX's layouts: ``Y`` is (seq, directions, batch, hidden) and ``Y_h``/``Y_c``
(directions, batch, hidden); with ``layout=1`` batch comes first in the input, ``Y`` and the states.
``sequence_lens`` runs the layer on a packed sequence (zeros past each length, states at each
sequence's last step), as ONNX defines it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from hwsim.errors import UserError

_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
# torch's gate blocks, each taken from the ONNX block at this index
_TORCH_FROM_ONNX = {"LSTM": (0, 2, 3, 1), "GRU": (1, 0, 2), "RNN": (0,)}
_DEFAULT_ACTS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"], "RNN": ["tanh"]}


def _reorder(w: torch.Tensor, kind: str) -> torch.Tensor:
    """(G*H, ...) stacked in ONNX gate order -> torch's order."""
    blocks = w.chunk(_GATES[kind], dim=0)
    return torch.cat([blocks[i] for i in _TORCH_FROM_ONNX[kind]], dim=0).contiguous()


class OnnxRecurrent(nn.Module):
    """One ONNX recurrent node: ``rnn`` is the torch layer, the rest adapts layouts and inputs."""

    def __init__(self, rnn: nn.RNNBase, kind: str, layout: int, reverse: bool, n_out: int):
        super().__init__()
        self.rnn, self.kind, self.layout, self.reverse, self.n_out = rnn, kind, layout, reverse, n_out

    def forward(self, x: torch.Tensor, sequence_lens: torch.Tensor | None = None,
                initial_h: torch.Tensor | None = None, initial_c: torch.Tensor | None = None) -> Any:
        if self.layout:
            x = x.transpose(0, 1)
            initial_h = None if initial_h is None else initial_h.transpose(0, 1)
            initial_c = None if initial_c is None else initial_c.transpose(0, 1)
        seq, batch = x.shape[0], x.shape[1]
        dirs, hidden = (2 if self.rnn.bidirectional else 1), self.rnn.hidden_size
        state: Any = None
        if self.kind == "LSTM" and (initial_h is not None or initial_c is not None):
            zeros = x.new_zeros(dirs, batch, hidden)
            state = (zeros if initial_h is None else initial_h, zeros if initial_c is None else initial_c)
        elif self.kind != "LSTM":
            state = initial_h
        if self.reverse:
            x = x.flip(0)
        if sequence_lens is not None:
            packed = nn.utils.rnn.pack_padded_sequence(x, sequence_lens.to("cpu", torch.int64), enforce_sorted=False)
            y, h = self.rnn(packed, state)
            y = nn.utils.rnn.pad_packed_sequence(y, total_length=seq)[0]
        else:
            y, h = self.rnn(x, state)
        if self.reverse:
            y = y.flip(0)
        h, c = h if self.kind == "LSTM" else (h, None)
        y = y.view(seq, batch, dirs, hidden).transpose(1, 2)         # (seq, dirs, batch, hidden)
        if self.layout:
            y, h = y.permute(2, 0, 1, 3), h.transpose(0, 1)
            c = None if c is None else c.transpose(0, 1)
        outs = (y, h, c)[: self.n_out]
        return outs if self.n_out > 1 else outs[0]


class OnnxGRUResetFirst(nn.Module):
    """A GRU node with ``linear_before_reset=0``: ``h~ = tanh(W_h x + R_h (r * h) + Wb_h + Rb_h)``;
    torch's GRU has only the other form, so this runs the same products step by step."""

    def __init__(self, w: torch.Tensor, r: torch.Tensor, b: torch.Tensor, layout: int, n_out: int):
        super().__init__()
        self.weight_ih, self.weight_hh = nn.Parameter(w), nn.Parameter(r)     # (dirs, 3H, I), (dirs, 3H, H)
        self.bias_ih, self.bias_hh = nn.Parameter(b[:, : w.shape[1]]), nn.Parameter(b[:, w.shape[1]:])
        self.layout, self.n_out = layout, n_out

    def forward(self, x: torch.Tensor, sequence_lens: torch.Tensor | None = None,
                initial_h: torch.Tensor | None = None) -> Any:
        if sequence_lens is not None:
            raise UserError("model", "a GRU with linear_before_reset=0 and sequence_lens is not supported")
        if self.layout:
            x = x.transpose(0, 1)
            initial_h = None if initial_h is None else initial_h.transpose(0, 1)
        seq, batch = x.shape[0], x.shape[1]
        dirs, hidden = self.weight_hh.shape[0], self.weight_hh.shape[2]
        ys, hs = [], []
        for d in range(dirs):
            h = x.new_zeros(batch, hidden) if initial_h is None else initial_h[d]
            gx = F.linear(x, self.weight_ih[d], self.bias_ih[d])              # (seq, batch, 3H): z, r, h
            rz, rr, rh = self.weight_hh[d].split(hidden)
            bz, br, bh = self.bias_hh[d].split(hidden)
            steps = range(seq - 1, -1, -1) if d == 1 else range(seq)
            out = [x.new_zeros(0)] * seq
            for t in steps:
                xz, xr, xh = gx[t].split(hidden, dim=-1)
                z = torch.sigmoid(xz + F.linear(h, rz, bz))
                r = torch.sigmoid(xr + F.linear(h, rr, br))
                n = torch.tanh(xh + F.linear(r * h, rh, bh))
                h = (1 - z) * n + z * h
                out[t] = h
            ys.append(torch.stack(out))
            hs.append(h)
        y, h = torch.stack(ys, 1), torch.stack(hs)                         # (seq, dirs, batch, H), (dirs, batch, H)
        if self.layout:
            y, h = y.permute(2, 0, 1, 3), h.transpose(0, 1)
        return (y, h)[: self.n_out] if self.n_out > 1 else y


def _const(name: str, graph: Any, node: Any) -> torch.Tensor | None:
    if not name:
        return None
    if name not in graph.initializers:
        raise UserError("model", f"{node.operation_type} node {node.name!r}: weight {name!r} is computed at run "
                                 "time; hwsim reads recurrent weights that are constants")
    return graph.initializers[name].to_torch()


def convert_recurrent(node: Any, graph: Any) -> Any:
    """onnx2torch converter for LSTM / GRU / RNN nodes (any opset from 7)."""
    from onnx2torch.utils.common import OnnxMapping, OperationConverterResult

    kind, at = node.operation_type, node.attributes
    where = f"{kind} node {node.name!r}"
    inputs = list(node.input_values) + [""] * (8 - len(node.input_values))
    w, r, b = (_const(inputs[i], graph, node) for i in (1, 2, 3))
    if w is None or r is None:
        raise UserError("model", f"{where} has no W or R weight")
    direction = at.get("direction", "forward")
    dirs, hidden = w.shape[0], int(at.get("hidden_size", r.shape[-1]))
    acts = [a.lower() for a in at.get("activations", [])]
    if at.get("clip") is not None or at.get("input_forget", 0):
        raise UserError("model", f"{where}: clip / input_forget have no torch equivalent")
    if kind == "LSTM" and inputs[7]:
        p = _const(inputs[7], graph, node)
        if p is not None and bool(p.any()):
            raise UserError("model", f"{where}: peephole weights have no torch equivalent")
    nonlin = "tanh"
    if acts and acts != _DEFAULT_ACTS[kind] * dirs:
        if kind == "RNN" and acts in (["relu"] * dirs,):
            nonlin = "relu"
        else:
            raise UserError("model", f"{where}: activations {acts} have no torch equivalent")
    if b is None:
        b = w.new_zeros(dirs, 2 * w.shape[1])
    n_out = max((i + 1 for i, o in enumerate(node.output_values) if o), default=1)
    layout = int(at.get("layout", 0))
    mapping = OnnxMapping(inputs=(inputs[0], inputs[4], inputs[5], *([inputs[6]] if kind == "LSTM" else [])),
                          outputs=node.output_values)
    if kind == "GRU" and not at.get("linear_before_reset", 0):
        return OperationConverterResult(OnnxGRUResetFirst(w, r, b, layout, n_out), mapping)
    cls = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[kind]
    extra = {"nonlinearity": nonlin} if kind == "RNN" else {}
    rnn = cls(w.shape[2], hidden, num_layers=1, bidirectional=dirs == 2, **extra)
    g = w.shape[1]
    with torch.no_grad():
        for d in range(dirs):
            sfx = "_reverse" if d == 1 else ""
            getattr(rnn, f"weight_ih_l0{sfx}").copy_(_reorder(w[d], kind))
            getattr(rnn, f"weight_hh_l0{sfx}").copy_(_reorder(r[d], kind))
            getattr(rnn, f"bias_ih_l0{sfx}").copy_(_reorder(b[d, :g], kind))
            getattr(rnn, f"bias_hh_l0{sfx}").copy_(_reorder(b[d, g:], kind))
    module = OnnxRecurrent(rnn, kind, layout, direction == "reverse", n_out)
    return OperationConverterResult(module, mapping)

