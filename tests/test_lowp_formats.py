"""BF16, FP8, FP6, FP4, OCP MX and NVFP4: codes against hand-computed blocks and the specifications'
figures, an independent brute-force reference on random blocks, torch's float8 dtypes as a cross-check,
the MAC-type table, stored bytes with scale overhead, the schemes in training and the energy order."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

torch = pytest.importorskip("torch")

from accel_models.layers import Operands  # noqa: E402
from accel_models.pe import build_pe  # noqa: E402
from hwsim.formats import Format, bytes_for, mac_type  # noqa: E402
from hwsim.minifloat import ELEMENTS  # noqa: E402
from hwsim.quant import microscaling as ms  # noqa: E402

E = ELEMENTS


def codes(values, name):
    el = E[name]
    return ms.encode_element(ms.round_to_element(torch.tensor(values, dtype=torch.float32), el), el).tolist()


# ------------------------------------------------------------------ elements, by hand


def test_e4m3_codes_by_hand():
    # 448 = 1.75 x 2^8: S.1111.110; 1.0: exponent 7 = bias -> 0.0111.000; -2: 1.1000.000;
    # 2^-6 the smallest normal 0.0001.000; 2^-9 the smallest subnormal 0.0000.001
    assert codes([448.0, 1.0, -2.0, 2.0**-6, 2.0**-9, 0.0], "e4m3") == [0x7E, 0x38, 0xC0, 0x08, 0x01, 0x00]
    # ties to even: 1.0625 lies halfway between 1.0 (m=000) and 1.125 (m=001) -> 1.0;
    # 1.1875 between 1.125 (001) and 1.25 (010) -> 1.25; 500 saturates to 448 (no infinities)
    assert codes([1.0625, 1.1875, 500.0, -1e6], "e4m3") == [0x38, 0x3A, 0x7E, 0xFE]
    # below half the smallest subnormal -> 0; exactly half -> 0 (even); 0.75 x 2^-9 -> 2^-9
    assert codes([2.0**-11, 2.0**-10, 0.75 * 2.0**-9], "e4m3") == [0x00, 0x00, 0x01]


def test_e5m2_fp6_fp4_int8_codes_by_hand():
    # E5M2: max 57344 = 1.75 x 2^15 -> 0.11110.11; 1.0 -> 0.01111.00; 2^-16 smallest subnormal
    assert codes([57344.0, 1.0, 2.0**-16, 1e9], "e5m2") == [0x7B, 0x3C, 0x01, 0x7B]
    # E3M2 max 28 = 1.75 x 2^4 -> 0.111.11; E2M3 max 7.5 = 1.875 x 2^2 -> 0.11.111
    assert codes([28.0, 0.0625], "e3m2") == [0x1F, 0x01]
    assert codes([7.5, 0.125, 1.0], "e2m3") == [0x1F, 0x01, 0x08]
    # E2M1: 0, 0.5, 1, 1.5, 2, 3, 4, 6 are codes 0..7; 5 ties to 4 (even), 2.5 to 2, 0.25 to 0, 7 saturates
    assert codes([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0], "e2m1") == [1, 2, 3, 4, 5, 6, 7]
    assert codes([5.0, 2.5, 0.25, 7.0, -6.0, -0.5], "e2m1") == [6, 4, 0, 7, 15, 9]
    # MXINT8: int8 x 2^-6, symmetric: 1 + 63/64 -> 127, -1 -> -64 (0xC0), 3 saturates to 127
    assert codes([127 / 64, -1.0, 3.0, 1 / 128], "int8") == [0x7F, 0xC0, 0x7F, 0x00]


def test_decode_inverts_encode_on_every_code():
    for name in ("e4m3", "e5m2", "e3m2", "e2m3", "e2m1", "int8"):
        el = E[name]
        vals = ms.decode_element(torch.arange(1 << el.bits), el)
        finite = vals.abs() <= el.max_normal
        back = ms.encode_element(vals[finite], el)
        assert torch.equal(ms.decode_element(back, el), vals[finite]), name


# ------------------------------------------------------------------ an independent reference


def _ref_table(name):
    """Every finite value with its code, from the format's definition (Fractions, no floats)."""
    el = E[name]
    out = []
    for code in range(1 << el.bits):
        if el.is_int:
            v = Fraction(code - 256 if code >= 128 else code, 64)
            if v == -2:
                continue
        else:
            s, e, m = code >> (el.bits - 1), (code >> el.man) & ((1 << el.exp) - 1), code & ((1 << el.man) - 1)
            if e == 0:
                v = Fraction(m, 1 << el.man) * Fraction(2) ** (1 - el.bias)
            else:
                v = (1 + Fraction(m, 1 << el.man)) * Fraction(2) ** (e - el.bias)
            if v > Fraction(el.max_normal):
                continue
            v = -v if s else v
        out.append((v, code))
    return out


def _ref_round(x: Fraction, name):
    """Nearest value, ties to the even code (mantissa LSB 0); saturating."""
    table = _ref_table(name)
    vmax = max(v for v, _ in table)
    x = max(min(x, vmax), -vmax)
    best = min(table, key=lambda vc: (abs(vc[0] - x), vc[1] & 1, vc[0] < 0 if x >= 0 else vc[0] > 0))
    return best


def _ref_mx_block(block, name):
    el = E[name]
    amax = max(abs(Fraction(v)) for v in block)
    shared = -127 if amax == 0 else max(-127, min(127, math.floor(math.log2(amax)) - el.emax))
    # floor(log2) exactly for a power-of-two edge: fix by comparison
    if amax:
        while Fraction(2) ** (shared + el.emax) > amax:
            shared -= 1
        while Fraction(2) ** (shared + el.emax + 1) <= amax:
            shared += 1
    x = Fraction(2) ** shared
    return shared + 127, [_ref_round(Fraction(v) / x, name)[1] for v in block]


@pytest.mark.parametrize("name", ["e4m3", "e5m2", "e3m2", "e2m3", "e2m1", "int8"])
def test_random_mx_blocks_match_the_reference_exactly(name):
    rng = random.Random(7)
    el = E[name]
    blocks = []
    for _ in range(12):
        scale = 2.0 ** rng.randint(-20, 20)
        blocks.append([rng.gauss(0, 1) * scale * rng.choice((1, 1, 0.01)) for _ in range(32)])
    # values on grid midpoints (ties) and at the saturation edge
    blocks.append([float(v) * 0.5 for v in range(-16, 16)])
    x = torch.tensor(blocks, dtype=torch.float32)
    got_codes, got_scales = ms.mx_encode(x, el, axis=-1, block=32)
    for i, block in enumerate(x.tolist()):
        scale, ref = _ref_mx_block(block, name)
        assert int(got_scales[i, 0, 0]) == scale, (name, i)
        got = got_codes[i, 0].tolist()
        # -0 and +0 both decode to zero
        zero = 1 << (el.bits - 1)
        got = [0 if c == zero and not el.is_int else c for c in got]
        ref = [0 if c == zero and not el.is_int else c for c in ref]
        assert got == ref, (name, i)


def test_fp8_rounding_matches_torch_float8():
    g = torch.Generator().manual_seed(3)
    x = torch.cat([torch.randn(20000, generator=g) * s for s in (1e-6, 1e-3, 1.0, 30.0, 300.0, 3e4)])
    for name, dt in (("e4m3", torch.float8_e4m3fn), ("e5m2", torch.float8_e5m2)):
        inside = x.abs() <= E[name].max_normal
        assert torch.equal(ms.round_to_element(x[inside], E[name]), x[inside].to(dt).float())
    assert torch.equal(ms.round_to_element(x, E["bf16"]), x.to(torch.bfloat16).float())


# ------------------------------------------------------------------ blocks by hand (OCP MX section 6.3)


def test_mxfp4_block_by_hand():
    # amax 3: shared = floor(log2 3) - emax(E2M1) = 1 - 2 = -1, X = 0.5, E8M0 code 126.
    # 3/X = 6 -> code 7; 1.3/X = 2.6 -> 3 (code 5); 0.1/X = 0.2 -> 0; -0.7/X = -1.4 -> -1.5 (code 0b1011)
    x = torch.tensor([3.0, 1.3, 0.1, -0.7] + [0.0] * 28)
    c, s = ms.mx_encode(x, E["e2m1"])
    assert int(s.reshape(-1)[0]) == 126
    assert c.reshape(-1)[:4].tolist() == [7, 5, 0, 11]
    assert ms.mx_quantize(x, E["e2m1"])[:4].tolist() == [3.0, 1.5, 0.0, -0.75]
    # amax 7.9: shared 2 - 2 = 0, X = 1: 7.9 saturates to 6 (the spec's clamp)
    y = torch.tensor([7.9] + [1.0] * 31)
    assert ms.mx_quantize(y, E["e2m1"])[0].item() == 6.0
    # MXFP8 E4M3: amax 500 -> floor(log2 500) - 8 = 0, 500 saturates to 448
    z = torch.tensor([500.0] + [0.5] * 31)
    assert ms.mx_quantize(z, E["e4m3"])[0].item() == 448.0
    # an all-zero block takes the smallest scale, 2^-127 (code 0)
    assert int(ms.mx_encode(torch.zeros(32), E["e4m3"])[1].reshape(-1)[0]) == 0


def test_nvfp4_block_by_hand():
    # tensor amax 2688 = 6 x 448 gives the encode scale s = 1; a block of amax 12 has the E4M3 decode
    # scale 12 / 6 = 2: 12 -> 6 x 2, 5 -> 2.5 -> 2 (ties to even) x 2 = 4, 3 -> 1.5 x 2 = 3, 0.4 -> 0.2 -> 0
    x = torch.zeros(32)
    x[:4] = torch.tensor([12.0, 5.0, 3.0, 0.4])
    x[16] = 2688.0
    q = ms.nvfp4_quantize(x)
    assert q[:4].tolist() == [12.0, 4.0, 3.0, 0.0]
    assert q[16].item() == 2688.0
    # a block whose scale is not an E4M3 value: amax 1.1 -> 1.1 / 6 = 0.1833 -> E4M3 0.1875 (1.5 x 2^-3)
    y = torch.zeros(32)
    y[0], y[16] = 1.1, 2688.0
    assert ms.nvfp4_quantize(y)[0].item() == pytest.approx(6 * 0.1875)


# ------------------------------------------------------------------ formats, bytes, MAC types, PEs


def test_format_names_bits_and_bytes():
    expect = {"bf16": 16, "fp8_e4m3": 8, "fp8_e5m2": 8, "mxfp8": 8.25, "mxfp8_e5m2": 8.25, "mxfp6_e3m2": 6.25,
              "mxfp6_e2m3": 6.25, "mxfp4": 4.25, "mxint8": 8.25, "nvfp4": 4.5}
    for name, bpe in expect.items():
        f = Format.parse(name)
        assert f.bits_per_element == bpe
        assert Format.parse(str(f)) == f
    n = 1 << 20
    assert bytes_for(n, Format.parse("mxfp8")) == n + n // 32
    assert bytes_for(n, Format.parse("mxfp6")) == n * 6 // 8 + n // 32
    assert bytes_for(n, Format.parse("mxfp4")) == n // 2 + n // 32
    assert bytes_for(n, Format.parse("nvfp4")) == n // 2 + n // 16 + 4
    assert bytes_for(n, Format.parse("fp8_e4m3")) == n


def test_mac_types_by_element_format():
    p = Format.parse
    assert mac_type(p("fp8_e4m3"), p("fp8_e5m2")) == "fp8"
    assert mac_type(p("mxfp8"), p("mxfp8")) == "mxfp8xfp8"
    assert mac_type(p("mxfp4"), p("mxfp4")) == "mxfp4xfp4"
    assert mac_type(p("mxfp8_e5m2"), p("mxfp4")) == "mxfp4xfp8"
    assert mac_type(p("nvfp4"), p("nvfp4")) == "nvfp4xfp4"
    assert mac_type(p("mxint8"), p("mxint8")) == "mxint8xint8"
    assert mac_type(p("bf16"), p("bf16")) == "bf16"
    assert mac_type(p("bf16"), p("fp8_e4m3")) == "bf16"
    assert mac_type(p("mxfp4"), p("bf16")) == "bf16"        # the block-scaled operand is dequantised
    assert mac_type(p("float32"), p("bf16")) == "fp32"
    assert mac_type(p("int8"), p("int8")) == "int8x8"


def test_pe_kinds_for_formats():
    mx, fp8 = build_pe({"kind": "mx"}), build_pe({"kind": "fp8"})
    assert mx.rate(Operands("mxe2m1", 4, "mxe2m1", 4)) == 2          # fp4 at twice the fp8 rate
    assert mx.rate(Operands("mxe4m3", 8, "mxe4m3", 8)) == 1
    assert mx.rate(Operands("float", 32, "float", 32)) == Fraction(1, 16)
    slow = build_pe({"kind": "mx", "align_cycles": 2})
    assert slow.rate(Operands("mxe4m3", 8, "mxe4m3", 8)) == Fraction(32, 34)
    assert fp8.rate(Operands("e4m3", 8, "e5m2", 8)) == 1
    assert fp8.rate(Operands("bf", 16, "bf", 16)) == Fraction(1, 4)


# ------------------------------------------------------------------ schemes in a real step


def test_stash_codec_holds_the_quantised_input_exactly():
    g = torch.Generator().manual_seed(0)
    for name in ("mxfp8", "mxfp6", "mxfp4", "mxint8", "nvfp4", "fp8_e4m3", "bf16"):
        f = Format.parse(name)
        q = ms.ScaledCast(f, "conv")
        x = q.quantize(torch.randn(4, 64, 5, 5, generator=g))
        codec = ms.FormatCodec(f, conv=True, quantizer=q)
        p = codec.encode(x)
        back = codec.decode(p)
        if name == "fp8_e4m3":      # a per-tensor scale: reciprocal vs quotient, within one rounding
            assert torch.allclose(back, x, rtol=2**-20, atol=0)
        else:
            assert torch.equal(back, x), name
        if name not in ("bf16", "fp8_e4m3", "nvfp4"):
            assert p.nbytes == bytes_for(x.numel(), f), name


def test_fp8_layer_gemms_read_quantised_operands_and_gradients():
    from hwsim.schemes import build_scheme

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.Linear(8, 4))
    scheme = build_scheme({"name": "fp8", "keep_first_last": False})
    net = scheme.convert(net)
    lin = net[0]
    x = torch.randn(5, 16)
    out = net(x)
    g = torch.randn_like(out) * 1e-3
    grads = {}
    lin.register_full_backward_hook(lambda m, gi, go: grads.setdefault("go", go[0]))
    out.backward(g)
    # the weight gradient is (E5M2 output gradient)^T x (E4M3 input), both with current per-tensor scales
    e4, e5 = E["e4m3"], E["e5m2"]
    xs = e4.max_normal / x.abs().max()
    xq = ms.round_to_element(x * xs, e4) / xs
    with torch.no_grad():
        y = net[1].input_quantizer(net[0](x))   # the second layer's GEMM input
    go2 = g
    s2 = e5.max_normal / go2.abs().max()
    go2q = ms.round_to_element(go2 * s2, e5) / s2
    assert torch.allclose(net[1].weight.grad, go2q.t() @ y, rtol=1e-5, atol=1e-7)
    go1 = net[1].weight_quantizer(net[1].weight).detach().t().matmul(go2q.t()).t()
    s1 = e5.max_normal / go1.abs().max()
    go1q = ms.round_to_element(go1 * s1, e5) / s1
    assert torch.allclose(lin.weight.grad, go1q.t() @ xq, rtol=1e-5, atol=1e-7)
    # without the gradient quantiser the gradient differs (the test would see a missing E5M2 rounding)
    assert not torch.allclose(go1q, go1)


def test_delayed_scaling_uses_the_amax_history():
    q = ms.ScaledCast(Format.parse("fp8_e4m3"), "linear", scaling="delayed", history=4)
    q.train()
    q(torch.tensor([1.0, 0.5]))                      # first call: its own amax (1.0)
    out = q(torch.tensor([4.0, 0.5]))                # scale from the history (amax 1.0): 4 x 448 saturates
    assert out[0].item() == pytest.approx(1.0)
    cur = ms.ScaledCast(Format.parse("fp8_e4m3"), "linear", scaling="current")
    assert cur(torch.tensor([4.0, 0.5]))[0].item() == 4.0


def test_bf16_master_weights_are_rounded_after_a_step():
    from hwsim.schemes import build_scheme

    net = torch.nn.Sequential(torch.nn.Linear(4, 4))
    scheme = build_scheme({"name": "mxfp8", "keep_first_last": False, "master": "bf16"})
    net = scheme.convert(net)
    with torch.no_grad():
        net[0].weight.add_(1e-5)
    scheme.on_step_end(net, 0)
    w = net[0].weight
    assert torch.equal(w, w.to(torch.bfloat16).float())
    assert net[0].hwsim_precision.master == Format.parse("bf16")


# ------------------------------------------------------------------ counting and energy


@pytest.fixture(scope="module")
def resnet18_step():
    from hwsim.count import trace

    return {s: trace("resnet18", s, batch=256, input_shape=(3, 224, 224)) for s in ("mxfp8", "nvfp4")}


def _rec(tr, layer, phase):
    return next(r for r in tr.records if r.layer == layer and r.phase == phase)


@pytest.mark.parametrize("scheme,bits_num,bits_den,block_bytes", [("mxfp8", 8, 1, 1 / 32), ("nvfp4", 4, 1, 1 / 16)])
def test_resnet18_batch256_bytes_at_the_stated_widths(resnet18_step, scheme, bits_num, bits_den, block_bytes):
    tr = resnet18_step[scheme]
    tail = 4 if scheme == "nvfp4" else 0                 # NVFP4's per-tensor FP32 scale
    # layer1.0.conv1: 64 -> 64 channels, 3 x 3, 56 x 56 at batch 256 (hand-computed)
    n_in = 256 * 64 * 56 * 56            # its input (= its output: same shape)
    n_w = 64 * 64 * 3 * 3

    def b(n):
        return int(n * bits_num / bits_den / 8 + n * block_bytes) + tail

    fwd = _rec(tr, "layer1.0.conv1", "forward").traffic_bytes
    assert fwd["weight"] == b(n_w) and fwd["input"] == b(n_in)
    # the stash is the measured codec buffers: element codes + one scale byte per block
    assert fwd["stash_write"] == b(n_in)
    bd = _rec(tr, "layer1.0.conv1", "backward_data").traffic_bytes
    assert bd["grad_output"] == b(n_in) and bd["grad_input"] == b(n_in) and bd["weight"] == b(n_w)
    bw = _rec(tr, "layer1.0.conv1", "backward_weight").traffic_bytes
    assert bw["grad_output"] == b(n_in) and bw["grad_weight"] == n_w * 4      # fp32 master
    assert bw["stash_read"] == b(n_in)
    up = _rec(tr, "layer1.0.conv1", "update").traffic_bytes
    assert up["weight_master"] == 2 * n_w * 4 and up["weight"] == b(n_w)
    # the first and last layers are held at bf16 (keep_first_last, first_last: bf16)
    assert _rec(tr, "conv1", "forward").traffic_bytes["weight"] == 64 * 3 * 7 * 7 * 2
    assert _rec(tr, "fc", "forward").traffic_bytes["input"] == 256 * 512 * 2


def test_training_step_energy_follows_the_per_mac_figures():
    from hwsim.count import trace
    from hwsim.energy import load_tech, price

    t = load_tech("45nm")
    step, scale = {}, {}
    for s in ("fp32", "bf16", "fp8", "mxfp8", "mxfp4"):
        rep = price(trace("resnet18", s, batch=8, input_shape=(3, 224, 224)), t)
        step[s], scale[s] = rep.train_step_pj, rep.totals.get("scale", 0.0)
    assert step["fp32"] > step["bf16"] > step["fp8"] >= step["mxfp8"] > step["mxfp4"]
    assert scale["fp32"] == scale["bf16"] == scale["fp8"] == 0.0
    assert scale["mxfp8"] > 0 and scale["mxfp4"] > 0


def test_block_scaled_energy_rule_parts():
    from hwsim.energy import load_tech
    from hwsim.energy.ops import mac_energy, scale_share_pj

    t = load_tech("45nm")
    p = Format.parse
    e8, _ = mac_energy(t, "mxfp8xfp8", (p("mxfp8"), p("mxfp8")), 576)
    e4, rule = mac_energy(t, "mxfp4xfp4", (p("mxfp4"), p("mxfp4")), 576)
    f8, _ = mac_energy(t, "fp8", (p("fp8_e4m3"), p("fp8_e4m3")), 576)
    b16, _ = mac_energy(t, "bf16", (p("bf16"), p("bf16")), 576)
    assert 4.6 > b16 > f8 >= e8 > e4 and rule.name == "block_scaled"
    # MX: an 8-bit exponent add + a 32-bit shift per block of 32
    s = scale_share_pj(t, "mxfp8xfp8", (p("mxfp8"), p("mxfp8")), 576)
    assert s == pytest.approx((0.03 + 0.1) / 32)
    assert scale_share_pj(t, "fp8", None, 576) == 0.0


def test_every_preset_converts_and_declares_its_formats():
    from hwsim.schemes import build_scheme

    want = {"bf16": ("bf16", "bf16", "bf16"), "fp8": ("fp8_e4m3", "fp8_e4m3", "fp8_e5m2"),
            "mxfp8": ("mxfp8_e4m3",) * 3, "mxfp6": ("mxfp6_e2m3", "mxfp6_e2m3", "mxfp6_e3m2"),
            "mxfp4": ("mxfp4_e2m1",) * 3, "mxint8": ("mxint8",) * 3, "nvfp4": ("nvfp4",) * 3}
    for name, (w, a, g) in want.items():
        net = build_scheme({"name": name, "keep_first_last": False}).convert(torch.nn.Sequential(
            torch.nn.Conv2d(32, 32, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(32, 2)))
        prec = net[0].hwsim_precision
        assert (str(prec.weight), str(prec.input), str(prec.grad), str(prec.stash)) == (w, a, g, a), name
        out = net(torch.randn(2, 32, 3, 3))
        out.sum().backward()
        assert torch.isfinite(net[0].weight.grad).all()


def test_scheme_rejects_an_unknown_format():
    from hwsim.errors import UserError
    from hwsim.schemes import build_scheme

    with pytest.raises(UserError, match="weight"):
        build_scheme({"name": "formats", "weight": "int4"})
    with pytest.raises(UserError):
        build_scheme({"name": "mxfp4", "activation": "mxfp5"})


def test_counted_conversion_work_is_the_same_on_meta_and_real_tensors():
    from hwsim.count import trace

    def net():
        return torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3), torch.nn.ReLU(), torch.nn.Conv2d(32, 32, 3),
                                   torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(32 * 4 * 4, 10))

    scheme = {"name": "mxfp8", "keep_first_last": False}
    counts = {}
    for dev in ("meta", "cpu"):
        torch.manual_seed(0)
        tr = trace(net(), scheme, batch=2, input_shape=(3, 8, 8), num_classes=10, device=dev)
        counts[dev] = {(r.layer, r.phase): r.elementwise.get("quantize", 0) for r in tr.records}
    assert counts["meta"] == counts["cpu"]
    # per conversion, four element ops per value (magnitude, max, scale, round): the second conv's
    # weight (9216 values), its input (2 x 32 x 6 x 6) and its output gradient (2 x 32 x 4 x 4)
    assert counts["cpu"][("2.weight_quantizer", "forward")] == 4 * 32 * 32 * 9
    assert counts["cpu"][("2.input_quantizer", "forward")] == 4 * 2 * 32 * 6 * 6
    assert counts["cpu"][("2.grad_quantizer", "backward_data")] == 4 * 2 * 32 * 4 * 4


def test_accelerator_reads_the_same_format_names():
    from accel_models.training import NARROW_FORMATS, parse_format
    from hwsim.minifloat import NAMES, element

    assert {n: (k, element(k).bits) for n, k in NAMES.items()} == NARROW_FORMATS
    for name in NAMES:
        f = Format.parse(name)
        assert parse_format(str(f)) == (f.kind, f.bits)


@pytest.mark.parametrize("scheme", ["bf16", "fp8", "mxfp8", "mxfp4", "nvfp4"])
def test_formats_train_on_digits(scheme):
    """Every layer quantised (first and last too), 4 epochs of Adam on digits: far above chance (0.1).
    The floor sits well below the three-seed spread of docs/formats.md (another CPU's summation order
    moves a run as much as another seed)."""
    import torch.nn.functional as F

    from hwsim.data import load_dataset
    from hwsim.schemes import build_scheme

    ds = load_dataset("digits", seed=0)
    torch.manual_seed(0)
    s = build_scheme({"name": scheme, "keep_first_last": False})
    model = s.convert(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                                          torch.nn.Linear(64, 10)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = ds.train_x, ds.train_y
    gen = torch.Generator().manual_seed(0)
    for _ in range(4):
        perm = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), 64):
            idx = perm[i:i + 64]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(ds.test_x).argmax(1) == ds.test_y).float().mean().item()
    assert acc > 0.6, (scheme, acc)


# ------------------------------------------------------------------ the accelerator's own counts


@pytest.fixture(scope="module")
def layer1_conv1_work():
    """layer1.0.conv1 of ResNet-18 at batch 2 and 56 x 56 inputs (14 x 14 at layer1), per scheme: its
    accelerator work items as hwsim's bridge builds them."""
    from hwsim.count import trace
    from hwsim.hardware import trace_work

    out = {}
    for s in ("mxfp8", "nvfp4", "fp8"):
        tr = trace("resnet18", s, batch=2, input_shape=(3, 56, 56), device="meta")
        out[s] = {w.phase: w for w in trace_work(tr) if w.name == "layer1.0.conv1" and hasattr(w, "M")}
    return out


@pytest.mark.parametrize("scheme,elem_bytes,scale_bytes", [
    # hand-computed: 2 x 64 x 14 x 14 = 25,088 input (and output) values, 64 x 64 x 3 x 3 = 36,864 weights;
    # MXFP8: 1 byte per element + one E8M0 byte per 32 (784 and 1,152 scale bytes)
    ("mxfp8", {"in": 25_088, "w": 36_864}, {"in": 784, "w": 1_152}),
    # NVFP4: half a byte per element + one E4M3 byte per 16 + 4 bytes of FP32 tensor scale per transfer
    ("nvfp4", {"in": 12_544, "w": 18_432}, {"in": 1_568 + 4, "w": 2_304 + 4}),
    # per-tensor FP8: no block scales
    ("fp8", {"in": 25_088, "w": 36_864}, {"in": 0, "w": 0}),
])
def test_accelerator_counts_block_scales_on_one_layer(layer1_conv1_work, scheme, elem_bytes, scale_bytes):
    import accel_models as am

    acc = am.load_accelerator("configs/accelerators/mx_array.yaml")
    fwd = layer1_conv1_work[scheme]["forward"]
    assert (fwd.M, fwd.N, fwd.K, fwd.ifmap_unique) == (392, 64, 576, 25_088)
    rep = am.simulate([fwd], acc)
    row = rep.rows[0]
    # both operands fit the buffers: each is read from DRAM once, its scales with it
    assert (row.dram_reads_ifmap, row.dram_reads_filter) == (25_088, 36_864)
    dram = {a.buffer + "_" + a.rw: a.bytes for a in rep.accesses.of(fwd.name, "forward") if a.level == "dram"}
    assert dram["ifmap_read"] == elem_bytes["in"] + scale_bytes["in"]
    assert dram["filter_read"] == elem_bytes["w"] + scale_bytes["w"]
    # the output leaves in the next layer's input format (layer1.0.conv2: the same scheme), scales too
    assert dram["ofmap_write"] == elem_bytes["in"] + scale_bytes["in"]
    assert row.dram_read_bytes == dram["ifmap_read"] + dram["filter_read"]
    assert row.dram_write_bytes == dram["ofmap_write"]
    # the same bytes as hwsim's own count of a tensor in that format (hwsim.formats.bytes_for)
    fmt = Format.parse(scheme if scheme != "fp8" else "fp8_e4m3")
    assert dram["ifmap_read"] == bytes_for(25_088, fmt) and dram["filter_read"] == bytes_for(36_864, fmt)
    # on chip: every SRAM read of an element brings its share of the scales
    sram: dict[str, float] = {}
    for a in rep.accesses.of(fwd.name, "forward"):
        if a.level == "sram":
            sram[a.buffer + "_" + a.rw] = sram.get(a.buffer + "_" + a.rw, 0) + a.bytes
    n = row.sram_reads_ifmap
    blk = {"mxfp8": 32, "nvfp4": 16}.get(scheme)
    per_elem = elem_bytes["in"] / 25_088
    want = n * per_elem + ((-(-n // blk)) + (4 if scheme == "nvfp4" else 0) if blk else 0)
    assert sram["ifmap_read"] == want
    # the ofmap buffer is the array's accumulators (psum_accumulation: sram): after the first row fold each
    # of the 25,088 outputs' 32-bit partial sums is read back once per fold (K = 576 on 256 rows: 3 folds at
    # one element per PE and cycle, 2 where the PE takes two FP4 products); the finished outputs then leave
    # through it, read out once, scales with them
    assert row.row_folds == (2 if scheme == "nvfp4" else 3)
    assert sram["ofmap_read"] == (row.row_folds - 1) * 25_088 * acc.psum_bits / 8 + dram["ofmap_write"]
    assert row.sram_read_bytes == math.ceil(sram["ifmap_read"]) + math.ceil(sram["filter_read"]) \
        + math.ceil(sram["ofmap_read"])


def test_accelerator_scales_move_the_mx_step_only_by_their_share(layer1_conv1_work):
    """Backward-data's gradient operands carry scales too; the E8M0 share is 1/32 of MXFP8's bytes."""
    import accel_models as am

    acc = am.load_accelerator("configs/accelerators/mx_array.yaml")
    bd = layer1_conv1_work["mxfp8"]["backward_data"]
    rep = am.simulate([bd], acc)
    dram = {a.buffer + "_" + a.rw: a.bytes for a in rep.accesses.of(bd.name, "backward_data") if a.level == "dram"}
    assert dram["ifmap_read"] == 25_088 + 784 and dram["filter_read"] == 36_864 + 1_152
    # its input gradient (dCol, 392 x 576, before col2im) goes back towards conv1, held at bf16
    # (keep_first_last): 2 bytes each, no scales
    assert dram["ofmap_write"] == 2 * 392 * 576


# ------------------------------------------------------------------ master weights and optimizer state


@pytest.fixture(scope="module")
def resnet18_adam():
    from hwsim.count import trace

    specs = {"fp32": "fp32", "bf16": "bf16",
             "bf16_moments": {"name": "bf16", "moment1": "bf16", "moment2": "bf16"},
             "fp8lm": {"name": "fp8", "master": "fp16", "moment1": "fp8_e4m3", "moment2": "fp16"}}
    return {k: trace("resnet18", s, batch=2, input_shape=(3, 56, 56), optimizer="adam", device="meta")
            for k, s in specs.items()}


# ResNet-18 (torchvision): 11,689,512 parameters in 62 tensors; its 20 convolutions and the classifier's
# weight hold 11,678,912 of them, the batch-norms' 9,600 (4,800 channels x 2) and the classifier's bias
# 1,000 the other 10,600. Adam keeps two per-element moments and a one-value fp32 step count per tensor.
P, P_W, P_REST, TENSORS = 11_689_512, 11_678_912, 10_600, 62


@pytest.mark.parametrize("name,master_w,m1,m2", [
    ("fp32", 4, 4, 4),
    ("bf16", 4, 4, 4),                 # BF16 GEMMs, FP32 master and moments (the default)
    ("bf16_moments", 4, 2, 2),
    ("fp8lm", 2, 1, 2),                # FP8-LM: FP16 master, FP8 first moment, FP16 second moment
])
def test_resnet18_adam_state_bytes_by_hand(resnet18_adam, name, master_w, m1, m2):
    from hwsim.evaluate import _train_state_bytes

    tr = resnet18_adam[name]
    assert tr.param_count == P_W + P_REST == P
    mem = tr.meta.step.train_state_bytes
    # the master weights of the layers' weights at the master width, the rest (BN, bias) fp32;
    # weight gradients as backward_weight writes them (the same widths)
    assert mem["weight_master"] == P_W * master_w + P_REST * 4
    assert mem["grad_weight"] == P_W * master_w + P_REST * 4
    assert mem["optimizer_state"] == P * (m1 + m2) + TENSORS * 4
    assert _train_state_bytes(tr, 2) == sum(mem.values())
    # update traffic: master and state read and written once, gradient read once
    up = {}
    for r in tr.records:
        if r.phase == "update":
            for k, v in r.traffic_bytes.items():
                up[k] = up.get(k, 0) + v
    assert up["optimizer_state"] == 2 * mem["optimizer_state"]
    assert up["weight_master"] == 2 * mem["weight_master"]
    # one layer by hand: layer1.0.conv1's 36,864 weights
    conv = _rec(tr, "layer1.0.conv1", "update").traffic_bytes
    assert conv["optimizer_state"] == 2 * (36_864 * (m1 + m2) + 4)
    assert conv["weight_master"] == 2 * 36_864 * master_w and conv["grad_weight"] == 36_864 * master_w


def test_fp32_state_bytes_keep_the_old_rule(resnet18_adam):
    """Without narrower state the figure is 4 bytes x params x (master + gradient + 2 moments), plus
    Adam's 62 step counts."""
    mem = resnet18_adam["fp32"].meta.step.train_state_bytes
    assert sum(mem.values()) == 4 * P * (2 + 2) + TENSORS * 4


def test_narrow_optimizer_state_is_priced():
    from hwsim.count import trace
    from hwsim.energy import load_tech, price

    t = load_tech("45nm")
    e = {}
    for k, s in {"bf16": "bf16", "bf16_moments": {"name": "bf16", "moment1": "bf16", "moment2": "bf16"}}.items():
        tr = trace("resnet18", s, batch=2, input_shape=(3, 56, 56), optimizer="adam", device="meta")
        e[k] = price(tr, t).train_step_pj
    assert e["bf16_moments"] < e["bf16"]


def test_optimizer_state_is_rounded_to_its_formats_after_each_step():
    from hwsim.schemes import build_scheme

    torch.manual_seed(0)
    s = build_scheme({"name": "bf16", "moment1": "bf16", "moment2": "fp8_e4m3"})
    net = s.convert(torch.nn.Sequential(torch.nn.Linear(64, 32)))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(3):
        net(torch.randn(16, 64)).square().mean().backward()
        opt.step()
        s.on_optimizer_step(opt)
        opt.zero_grad()
    st = opt.state[net[0].weight]
    m, v = st["exp_avg"], st["exp_avg_sq"]
    assert torch.equal(m, m.to(torch.bfloat16).float())              # BF16 first moment
    assert not torch.equal(v, v.to(torch.bfloat16).float())          # an FP8 grid, not BF16's
    # per-tensor scaled E4M3: the amax maps to 448 and every value sits on the E4M3 grid there
    scaled = v * (448 / v.abs().amax())
    assert torch.allclose(scaled, scaled.to(torch.float8_e4m3fn).float(), rtol=1e-6, atol=0)
    assert scaled.unique().numel() <= 127


def test_training_step_energy_order_on_the_mx_array_with_scale_bytes():
    """The order of the per-MAC figures survives the accelerator's own memory counts, block scales
    included (memory energy from mx_array's SRAM/DRAM accesses)."""
    import accel_models as am
    from hwsim.count import trace
    from hwsim.energy import load_tech
    from hwsim.evaluate import Pricing, WorkloadTraces, price_traces

    t = load_tech("45nm")
    acc = am.load_accelerator("configs/accelerators/mx_array.yaml")
    step, dram = {}, {}
    for s in ("fp32", "bf16", "fp8", "mxfp8", "mxfp4"):
        tr = trace("resnet18", s, batch=8, input_shape=(3, 224, 224), device="meta")
        ev = price_traces(WorkloadTraces(train=tr), acc, t, Pricing(memory="accelerator"))
        step[s] = ev.train_energy.train_step_pj
        acs = ev.train_cycles.accesses.by_layer_phase.values()
        dram[s] = sum(a.bytes for es in acs for a in es if a.level == "dram" and a.buffer in ("ifmap", "filter", "ofmap"))
    assert step["fp32"] > step["bf16"] > step["fp8"] >= step["mxfp8"] > step["mxfp4"]
    # the array's GEMM operands: MXFP8 moves FP8's elements (the same widths, the same bf16 first and
    # last layers) plus its scales, so more DRAM bytes, by less than 1/32 of them
    assert dram["fp8"] < dram["mxfp8"] < dram["fp8"] * (1 + 1 / 32)


@pytest.mark.parametrize("name", ["fp8", "mxfp8", "mxfp6", "mxfp4", "mxint8", "nvfp4"])
def test_first_and_last_layers_are_held_at_bf16_not_fp32(name):
    """The stated rule (docs/formats.md): the formats below 16 bits keep their first and last weight
    layers in the 16-bit mixed-precision format the recipes train against (bf16, FP32 master), not
    in fp32 as the seed schemes do; ``first_last: fp32`` gives the seeds' convention."""
    from hwsim.schemes import build_scheme

    def net():
        return torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3), torch.nn.ReLU(), torch.nn.Conv2d(32, 32, 3),
                                   torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(32, 10))

    s = build_scheme(name)
    assert s.keep_first_last and s.first_last == "bf16"
    m = s.convert(net())
    for i in (0, 5):
        p = m[i].hwsim_precision
        assert (str(p.weight), str(p.input), str(p.grad), str(p.master)) == ("bf16", "bf16", "bf16", "float32")
    assert str(m[2].hwsim_precision.weight) != "bf16"
    float_edges = build_scheme({"name": name, "first_last": "fp32"}).convert(net())
    for i in (0, 5):
        p = float_edges[i].hwsim_precision
        assert (str(p.weight), str(p.input), str(p.grad), p.note) == ("float32", "float32", "float32", "")
    assert not build_scheme("bf16").keep_first_last


def test_mixed_passes_on_the_optimizer_state_formats():
    from hwsim.schemes import build_scheme

    m = build_scheme({"name": "mixed", "compose": ["twn", {"name": "bf16", "moment1": "bf16", "moment2": "fp16"}]})
    got = {k: str(v) for k, v in m.optimizer_state_formats().items()}
    assert got == {"moment1": "bf16", "moment2": "float16"}
    assert build_scheme("twn").optimizer_state_formats() == {}
