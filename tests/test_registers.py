"""Per-PE register levels: declared in the accelerator config, counted by the dataflow, priced at their
own energies; an accelerator without them keeps the default register rule."""

import pytest

import accel_models as am
from accel_models.registers import register_words
from hwsim.energy import hierarchy_for_accelerator, load_tech, price

BASE = {"name": "t", "array": {"rows": 4, "cols": 4, "dataflow": "ws"}, "pe": {"kind": "int", "bits": 8},
        "sram": {"ifmap_kb": 64, "filter_kb": 64, "ofmap_kb": 64}, "dram": {"bandwidth_bytes_per_cycle": 8},
        "operands": {"ifmap_bits": 8, "filter_bits": 8, "psum_bits": 16}}
REGS = {"ifmap": {"bytes": 1, "bits": 8, "read_pj": 1.0, "write_pj": 1.5},
        "filter": {"bytes": 64, "bits": 8, "read_pj": 0.5, "write_pj": 0.75},
        "psum": {"bytes": 2, "bits": 16, "read_pj": 0.25, "write_pj": 0.3}}
M, N, K = 10, 6, 9
MACS = M * N * K


def _acc(dataflow="ws", registers=None):
    d = {**BASE, "array": {**BASE["array"], "dataflow": dataflow}}
    if registers is not None:
        d["registers"] = registers
    return am.load_accelerator(d)


def _rf(dataflow, registers=REGS):
    acc = _acc(dataflow, registers)
    rep = am.simulate([am.GemmLayer("g", M, N, K)], acc)
    out = {}
    for a in rep.accesses.of("g", "forward") + rep.accesses.of("g", "inference"):
        if a.level == "rf":
            out[(a.buffer, a.rw)] = a.bytes
    return out, rep


def test_weight_stationary_counts():
    rf, rep = _rf("ws")
    # every MAC reads the moving operand and reads + writes the running sum; the weight is filled once per
    # fold and read once per fill (held at the multiplier)
    assert rf[("filter", "read")] == K * N
    assert rf[("filter", "write")] == K * N == rep.rows[0].sram_reads_filter
    assert rf[("ifmap", "write")] == rf[("ifmap", "read")] == MACS
    assert rf[("psum", "read")] == rf[("psum", "write")] == MACS * 2        # 16-bit words, in bytes


def test_input_and_output_stationary_counts():
    rf, rep = _rf("is")
    assert rf[("ifmap", "write")] == rf[("ifmap", "read")] == M * K == rep.rows[0].sram_reads_ifmap
    assert rf[("filter", "write")] == MACS
    rf, _ = _rf("os")
    assert rf[("ifmap", "write")] == rf[("filter", "write")] == MACS


def test_a_held_operand_is_read_once_per_fill_a_moving_one_per_mac():
    n = register_words("ws", "filter", MACS, K * N)
    assert (n.reads, n.writes) == (K * N, K * N)
    assert register_words("ws", "ifmap", MACS, 0).reads == MACS
    assert register_words("os", "filter", MACS, 0).reads == MACS


def test_wide_operand_takes_several_words():
    rf, _ = _rf("ws", {"psum": {"bytes": 4, "bits": 8}})       # a 16-bit partial sum in 8-bit words
    assert rf[("psum", "write")] == 2 * MACS
    assert ("filter", "read") not in rf                          # no weight register declared: none counted


def test_priced_at_declared_energies():
    acc = _acc("ws", REGS)
    rep = am.simulate([am.GemmLayer("g", M, N, K, phase="inference")], acc)
    hier = hierarchy_for_accelerator(acc)
    from hwsim.trace import LayerRecord, Trace

    tr = Trace(model="m", scheme="s", mode="infer", batch=1, input_shape=[1],
               records=[LayerRecord("g", "inference", {"int8x8": MACS}, {}, {}, {})], layers=[])
    got = price(tr, load_tech("45nm"), hier, rep.accesses).by_phase["inference"]["rf"]
    want = (MACS * (1.0 + 1.5 + 0.25 + 0.3) + K * N * (0.5 + 0.75))
    assert got == pytest.approx(want)


def test_undeclared_registers_keep_the_default_rule():
    acc = _acc("ws")
    assert acc.registers == {} and "registers" not in acc.to_dict()
    rep = am.simulate([am.GemmLayer("g", M, N, K)], acc)
    assert not [a for a in rep.accesses.of("g", "forward") + rep.accesses.of("g", "inference") if a.level == "rf"]


@pytest.mark.parametrize("bad, where", [
    ({"weights": {"bytes": 1, "bits": 8}}, "registers.weights"),
    ({"psum": {"bytes": 1, "bits": 16}}, "registers.psum.bytes"),
    ({"psum": {"bytes": 2, "bits": 0}}, "registers.psum.bits"),
    ({"psum": {"bytes": 2, "bits": 16, "read_pj": -1}}, "registers.psum.read_pj"),
    ({"psum": {"bytes": 2, "bits": 16, "energy": 1}}, "registers.psum.energy"),
])
def test_bad_register_fields_name_the_field(bad, where):
    with pytest.raises(am.ConfigError) as e:
        _acc("ws", bad)
    assert where in str(e.value)


def test_registers_round_trip():
    acc = _acc("ws", REGS)
    again = am.load_accelerator(acc.to_dict() | {"name": "t"})
    assert again.registers == acc.registers
