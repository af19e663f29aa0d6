"""Small look-alikes of third-party networks, written the way their libraries write them.

Each factory returns an ``nn.Module`` with an ``input_shape`` attribute; the layer patterns are
those of torchvision, timm and Hugging Face (squeeze-excitation with hardsigmoid, channel shuffle,
channels-last LayerNorm with a layer scale, window attention with a relative-position table, a
class token and position embedding, ``nn.TransformerEncoder``, a UNet with transposed convolutions
and bilinear upsampling, recurrent classifiers, a RegNet whose widths are computed with tensors).
The Hugging Face models are built from configs (no download) when ``transformers`` is installed.

This file is used through every model route: ``thirdparty_nets.py:NAME``, the importable module
``thirdparty_nets:NAME``, and the ``.pt2`` / ``.onnx`` files exported from it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _conv_bn(c_in: int, c_out: int, k: int = 3, s: int = 1, groups: int = 1, act: type | None = nn.ReLU):
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, r: int = 4, gate: type = nn.Hardsigmoid):
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.fc2 = nn.Conv2d(c // r, c, 1)
        self.gate = gate()

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.fc2(F.relu(self.fc1(s))))


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_mid: int, c_out: int, s: int, act: type, se_gate: type | None):
        super().__init__()
        self.use_res = s == 1 and c_in == c_out
        layers = [_conv_bn(c_in, c_mid, 1, act=act), _conv_bn(c_mid, c_mid, 3, s, groups=c_mid, act=act)]
        if se_gate is not None:
            layers.append(SqueezeExcite(c_mid, gate=se_gate))
        layers.append(_conv_bn(c_mid, c_out, 1, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


def mobilenet_v3(num_classes: int = 10) -> nn.Module:
    """mobilenet_v3_small's pattern: hardswish, depthwise convs, SE with hardsigmoid, dropout head."""
    net = nn.Sequential(
        _conv_bn(3, 8, 3, 2, act=nn.Hardswish),
        InvertedResidual(8, 16, 8, 1, nn.ReLU, nn.Hardsigmoid),
        InvertedResidual(8, 24, 16, 2, nn.Hardswish, nn.Hardsigmoid),
        _conv_bn(16, 32, 1, act=nn.Hardswish),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(32, 64), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(64, num_classes))
    net.input_shape = (3, 32, 32)
    return net


def efficientnet(num_classes: int = 10) -> nn.Module:
    """efficientnet_b0's pattern: SiLU MBConv blocks with sigmoid SE."""
    net = nn.Sequential(
        _conv_bn(3, 8, 3, 2, act=nn.SiLU),
        InvertedResidual(8, 32, 8, 1, nn.SiLU, nn.Sigmoid),
        InvertedResidual(8, 32, 16, 2, nn.SiLU, nn.Sigmoid),
        _conv_bn(16, 48, 1, act=nn.SiLU), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
        nn.Linear(48, num_classes))
    net.input_shape = (3, 32, 32)
    return net


class ShuffleUnit(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        h = c // 2
        self.branch = nn.Sequential(_conv_bn(h, h, 1), _conv_bn(h, h, 3, groups=h, act=None), _conv_bn(h, h, 1))

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        out = torch.cat((a, self.branch(b)), dim=1)
        n, c, hh, ww = out.shape
        return out.view(n, 2, c // 2, hh, ww).transpose(1, 2).contiguous().view(n, c, hh, ww)


def shufflenet(num_classes: int = 10) -> nn.Module:
    """shufflenet_v2's pattern: split, branch, concatenate, channel shuffle."""
    net = nn.Sequential(_conv_bn(3, 16, 3, 2), nn.MaxPool2d(3, 2, 1), ShuffleUnit(16), ShuffleUnit(16),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes))
    net.input_shape = (3, 32, 32)
    return net


class LayerNorm2d(nn.LayerNorm):
    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.dwconv = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.pwconv1 = nn.Linear(c, 4 * c)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * c, c)
        self.layer_scale = nn.Parameter(torch.full((c, 1, 1), 1e-6))   # torchvision's shape: (C, 1, 1)

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y)))).permute(0, 3, 1, 2)
        return x + self.layer_scale * y


def convnext(num_classes: int = 10) -> nn.Module:
    """convnext_tiny's pattern: patchify stem, depthwise 7x7, channels-last MLP, layer scale."""
    net = nn.Sequential(nn.Conv2d(3, 16, 4, 4), LayerNorm2d(16), ConvNeXtBlock(16),
                        LayerNorm2d(16), nn.Conv2d(16, 32, 2, 2), ConvNeXtBlock(32),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.LayerNorm(32), nn.Linear(32, num_classes))
    net.input_shape = (3, 32, 32)
    return net


class WindowAttention(nn.Module):
    def __init__(self, dim: int, heads: int, window: int):
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("relative_position_index", rel[..., 0] * (2 * window - 1) + rel[..., 1])

    def forward(self, x):      # x: (B * windows, window*window, dim)
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * (c // self.heads) ** -0.5) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = (attn + bias.permute(2, 0, 1).unsqueeze(0)).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: int):
        super().__init__()
        self.window = window
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):      # (B, H, W, C)
        b, h, w, c = x.shape
        s = self.window
        y = self.norm1(x).view(b, h // s, s, w // s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, s * s, c)
        y = self.attn(y).view(b, h // s, w // s, s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
        x = x + y
        return x + self.mlp(self.norm2(x))


class Swin(nn.Module):
    input_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, 4)
        self.block = SwinBlock(16, 2, 4)
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.block(self.patch(x).permute(0, 2, 3, 1))
        return self.head(self.norm(x).mean((1, 2)))


def swin(num_classes: int = 10) -> nn.Module:
    """swin_t's pattern: window attention with a relative-position bias table."""
    return Swin(num_classes)


class ViT(nn.Module):
    input_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 10, dim: int = 32, depth: int = 2, heads: int = 4, patch: int = 8):
        super().__init__()
        n = (32 // patch) ** 2
        self.conv_proj = nn.Conv2d(3, dim, patch, patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.zeros(1, n + 1, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding
        return self.head(self.ln(self.encoder(x))[:, 0])


def vit(num_classes: int = 10) -> nn.Module:
    """vit_b_16's pattern: class token, position embedding, nn.TransformerEncoder."""
    return ViT(num_classes)


class UNet(nn.Module):
    input_shape = (1, 32, 32)

    def __init__(self, classes: int = 2):
        super().__init__()
        self.down1 = nn.Sequential(_conv_bn(1, 8), _conv_bn(8, 8))
        self.down2 = nn.Sequential(_conv_bn(8, 16), _conv_bn(16, 16))
        self.bottom = nn.Sequential(_conv_bn(16, 32), _conv_bn(32, 32))
        self.up2 = nn.ConvTranspose2d(32, 16, 2, 2)
        self.dec2 = nn.Sequential(_conv_bn(32, 16), _conv_bn(16, 16))
        self.dec1 = nn.Sequential(_conv_bn(24, 8), _conv_bn(8, 8))
        self.out = nn.Conv2d(8, classes, 1)

    def forward(self, x):
        d1 = self.down1(x)
        d2 = self.down2(F.max_pool2d(d1, 2))
        b = self.bottom(F.max_pool2d(d2, 2))
        u2 = self.dec2(torch.cat([self.up2(b), d2], 1))
        u1 = F.interpolate(u2, scale_factor=2, mode="bilinear", align_corners=False)
        return self.out(self.dec1(torch.cat([u1, d1], 1)))


def unet() -> nn.Module:
    """A UNet: max-pool down, transposed-convolution and bilinear up, skip concatenations."""
    return UNet()


class RNNClassifier(nn.Module):
    input_shape = "tokens:12"

    def __init__(self, cell: str = "lstm", vocab: int = 50, dim: int = 16, hidden: int = 24, num_classes: int = 5,
                 layers: int = 2, bidirectional: bool = False, from_state: bool = False, **kw):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell](
            dim, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional, **kw)
        self.from_state = from_state
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), num_classes)

    def forward(self, ids):
        out, state = self.rnn(self.embed(ids))
        if self.from_state:         # classify from the last layer's final state (both directions)
            h = state[0] if isinstance(state, tuple) else state
            return self.fc(h[-2:].transpose(0, 1).flatten(1) if self.rnn.bidirectional else h[-1])
        return self.fc(out[:, -1])


def lstm_classifier(num_classes: int = 5) -> nn.Module:
    return RNNClassifier("lstm", num_classes=num_classes)


def gru_classifier(num_classes: int = 5) -> nn.Module:
    return RNNClassifier("gru", num_classes=num_classes)


def bilstm_classifier(num_classes: int = 5) -> nn.Module:
    """A 2-layer bidirectional LSTM read from its final states."""
    return RNNClassifier("lstm", num_classes=num_classes, bidirectional=True, from_state=True)


def bigru_classifier(num_classes: int = 5) -> nn.Module:
    """A 1-layer bidirectional GRU read from its last output step."""
    return RNNClassifier("gru", num_classes=num_classes, layers=1, bidirectional=True)


def relu_rnn_classifier(num_classes: int = 5) -> nn.Module:
    """An Elman RNN with ReLU, read from its final state."""
    return RNNClassifier("rnn", num_classes=num_classes, from_state=True, nonlinearity="relu")


class BilinearHead(nn.Module):
    input_shape = (8,)

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 6)
        self.bil = nn.Bilinear(6, 8, 4)

    def forward(self, x):
        return self.bil(torch.relu(self.fc(x)), x)


def bilinear() -> nn.Module:
    """nn.Bilinear: y_k = x1^T W_k x2 + b_k."""
    return BilinearHead()


def _regnet_widths(w0: float, wa: float, wm: float, depth: int, q: int = 8) -> list[int]:
    # torchvision's BlockParams.from_init_params: widths computed with tensors, then .tolist()
    ws = torch.arange(depth) * wa + w0
    block_capacity = torch.round(torch.log(ws / w0) / torch.log(torch.tensor(wm)))
    widths = (torch.round(torch.divide(w0 * torch.pow(wm, block_capacity), q)) * q).int().tolist()
    return sorted(set(widths))


def regnet(num_classes: int = 10) -> nn.Module:
    """regnet_y_400mf's pattern: stage widths computed from tensors (the factory needs real values)."""
    widths = _regnet_widths(8.0, 8.0, 2.0, 3)
    layers: list[nn.Module] = [_conv_bn(3, widths[0], 3, 2)]
    for a, b in zip(widths, widths[1:]):
        layers.append(InvertedResidual(a, b, b, 2, nn.ReLU, nn.Sigmoid))
    net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[-1], num_classes))
    net.input_shape = (3, 32, 32)
    return net


# -- Hugging Face models from configs (no download) --------------------------------------------
def _hf(kind: str):
    import transformers as tr

    torch.manual_seed(0)
    if kind == "bert":
        cfg = tr.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=64, max_position_embeddings=64, attn_implementation="sdpa")
        net = tr.BertModel(cfg, add_pooling_layer=False)
    elif kind == "gpt2":
        cfg = tr.GPT2Config(vocab_size=100, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                            attn_implementation="sdpa")
        net = tr.GPT2LMHeadModel(cfg)
    elif kind == "llama":
        cfg = tr.LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                             attn_implementation="sdpa")
        net = tr.LlamaForCausalLM(cfg)
    else:
        cfg = tr.T5Config(vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                          decoder_start_token_id=0)
        net = tr.T5EncoderModel(cfg)
    net.config.use_cache = False
    net.input_shape = "tokens:16"
    return net


class LogitsOnly(nn.Module):
    """How a Hugging Face model is exported to ONNX with ``torch.onnx.export(dynamo=False)``: called
    with keywords and an all-ones attention mask (the exporter's positional call clashes with the
    models' keyword handling, and a missing mask makes them trace ``torch.diff``, which has no ONNX
    form), returning one tensor: the logits, else the last hidden state."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        out = self.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
        return out.logits if hasattr(out, "logits") else out.last_hidden_state


def hf_bert() -> nn.Module:
    return _hf("bert")


def hf_gpt2() -> nn.Module:
    return _hf("gpt2")


def hf_llama() -> nn.Module:
    return _hf("llama")


def hf_t5() -> nn.Module:
    return _hf("t5")


class PackedLSTM(nn.Module):
    """Padded token sequences (id 0 is padding) packed by their lengths before the LSTM, as text
    classifiers do: the lengths are values, so the count runs on the CPU and counts the real steps."""

    input_shape = "tokens:10"

    def __init__(self, vocab: int = 20, dim: int = 8, hidden: int = 16, num_classes: int = 3):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.rnn = nn.LSTM(dim, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, ids):
        lengths = (ids != 0).sum(1).clamp(min=1)
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(ids), lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, (h, _) = self.rnn(packed)
        return self.fc(h[-1])


def packed_lstm() -> nn.Module:
    return PackedLSTM()


class UnusedHead(nn.Module):
    """A network holding a parameter its forward never uses (a second head, as multi-task checkpoints do)."""

    input_shape = (8,)

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(8, 16)
        self.head = nn.Linear(16, 4)
        self.aux_head = nn.Linear(16, 100)

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


def unused_head() -> nn.Module:
    return UnusedHead()


VISION = ["mobilenet_v3", "efficientnet", "shufflenet", "convnext", "swin", "vit", "unet", "regnet"]
RECURRENT = ["lstm_classifier", "gru_classifier", "bilstm_classifier", "bigru_classifier", "relu_rnn_classifier"]
LANGUAGE = ["tiny_lm"]
HF = ["hf_bert", "hf_gpt2", "hf_llama", "hf_t5"]


class TinyLM(nn.Module):
    """A decoder-style language model written with torch.nn: token and position embeddings, one
    pre-norm encoder layer with a causal mask, a head (exports to ONNX with its embedding a Gather)."""

    input_shape = "tokens:16"

    def __init__(self, vocab: int = 64, dim: int = 32, seq: int = 16):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.zeros(1, seq, dim))
        self.block = nn.TransformerEncoderLayer(dim, 4, 2 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.head = nn.Linear(dim, vocab)
        self.register_buffer("mask", torch.triu(torch.full((seq, seq), float("-inf")), 1))

    def forward(self, ids):
        return self.head(self.block(self.tok(ids) + self.pos, src_mask=self.mask))


def tiny_lm() -> nn.Module:
    return TinyLM()
