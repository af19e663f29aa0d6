#!/usr/bin/env bash
# Regenerate the cached SCALE-Sim v3 outputs under tests/fixtures/scalesim/ that the accelerator
# tests compare hwsim's accel_models against. Runs SCALE-Sim 3.0.0 as a subprocess from its own venv
# (.venv-scalesim, made by scripts/setup_scalesim.sh), one run per (topology, array, dataflow, mode).
#
#   bash scripts/make_scalesim_fixtures.sh small    # tiny conv + GEMM topologies (about a minute)
#   bash scripts/make_scalesim_fixtures.sh resnet   # full ResNet-18 runs: 32x32 and 16x64 (5-15 min, 4-11 GB each)
#   bash scripts/make_scalesim_fixtures.sh compute  # SCALE-Sim's compute model only, ResNet-18 on 64x64, 128x32
#   bash scripts/make_scalesim_fixtures.sh all
#
# Each run directory keeps the exact scale.cfg, the three SCALE-Sim reports (or, for "compute",
# COMPUTE_ONLY.csv from benchmarks/scalesim_compute_only.py, which runs SCALE-Sim's own operand and
# demand-matrix code without its slow memory replay), and run.txt with the command line, the wall
# time in seconds and the peak memory (KiB) measured by /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_scalesim.sh
PY=$PWD/.venv-scalesim/bin/python
FIX=$PWD/tests/fixtures/scalesim
TOPO=$FIX/topologies
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# write_cfg NAME ROWS COLS DATAFLOW MODE(CALC|USER) BW_WORDS_PER_CYCLE SRAM_KB
write_cfg() {
    cat > "$WORK/$1.cfg" <<CFG
[general]
run_name = $1

[architecture_presets]
ArrayHeight:    $2
ArrayWidth:     $3
IfmapSramSzkB:    $7
FilterSramSzkB:   $7
OfmapSramSzkB:    $7
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : $6
Dataflow : $4
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: $6
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: $6
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: $5
UseRamulatorTrace: False
CFG
}

# run TOPOLOGY(conv|gemm csv basename) INPUT_TYPE ROWS COLS DATAFLOW MODE BW SRAM_KB
run() {
    local topo=$1 itype=$2 rows=$3 cols=$4 df=$5 mode=$6 bw=$7 kb=$8
    local name="${topo}_${rows}x${cols}_${df}_${mode,,}"
    local out="$FIX/$name"
    write_cfg "$name" "$rows" "$cols" "$df" "$mode" "$bw" "$kb"
    # SCALE-Sim wants a layout file even with custom layouts off; the topology itself parses as one.
    local cmd="$PY -m scalesim.scale -c $name.cfg -t $TOPO/$topo.csv -l $TOPO/$topo.csv -i $itype -p $WORK/out -s N"
    echo "scalesim: $name" >&2
    (cd "$WORK" && /usr/bin/time -f "%e %M" -o "$WORK/time.txt" \
        nice -n 19 $cmd > "$WORK/$name.log" 2>&1) || { echo "FAILED: $name (see $WORK/$name.log)" >&2; tail -5 "$WORK/$name.log" >&2; return 1; }
    mkdir -p "$out"
    cp "$WORK/$name.cfg" "$out/scale.cfg"
    cp "$WORK/out/$name/COMPUTE_REPORT.csv" "$WORK/out/$name/BANDWIDTH_REPORT.csv" \
       "$WORK/out/$name/DETAILED_ACCESS_REPORT.csv" "$out/"
    read -r wall rss < "$WORK/time.txt"
    printf 'topology=%s\ninput_type=%s\ncommand=%s\nwall_s=%s\nmax_rss_kib=%s\n' \
        "$topo.csv" "$itype" "python -m scalesim.scale -c scale.cfg -t $topo.csv -l $topo.csv -i $itype -s N" \
        "$wall" "$rss" > "$out/run.txt"
}

# compute_only TOPOLOGY INPUT_TYPE ROWS COLS DATAFLOW
compute_only() {
    local topo=$1 itype=$2 rows=$3 cols=$4 df=$5
    local name="${topo}_${rows}x${cols}_${df}_compute"
    local out="$FIX/$name"
    write_cfg "$name" "$rows" "$cols" "$df" CALC 10 256
    echo "scalesim compute model: $name" >&2
    (cd "$WORK" && /usr/bin/time -f "%e %M" -o "$WORK/time.txt" nice -n 19 "$PY" "$ROOT_DIR/benchmarks/scalesim_compute_only.py" \
        "$name.cfg" "$TOPO/$topo.csv" "$itype" > "$WORK/$name.csv" 2> "$WORK/$name.log") \
        || { echo "FAILED: $name" >&2; tail -5 "$WORK/$name.log" >&2; return 1; }
    mkdir -p "$out"
    cp "$WORK/$name.cfg" "$out/scale.cfg"
    cp "$WORK/$name.csv" "$out/COMPUTE_ONLY.csv"
    read -r wall rss < "$WORK/time.txt"
    printf 'topology=%s\ninput_type=%s\ncommand=%s\nwall_s=%s\nmax_rss_kib=%s\n' \
        "$topo.csv" "$itype" "python benchmarks/scalesim_compute_only.py scale.cfg $topo.csv $itype" \
        "$wall" "$rss" > "$out/run.txt"
}
ROOT_DIR=$PWD

what=${1:-small}
if [ "$what" = small ] || [ "$what" = all ]; then
    for df in ws os is; do
        for shape in "8 4" "4 8"; do
            set -- $shape
            run tiny conv "$1" "$2" "$df" USER 4 1
            run tiny conv "$1" "$2" "$df" CALC 4 1
        done
        for shape in "8 8" "32 32" "16 64"; do
            set -- $shape
            run gemm gemm "$1" "$2" "$df" USER 10 64
            run gemm gemm "$1" "$2" "$df" CALC 10 64
        done
    done
fi
if [ "$what" = resnet ] || [ "$what" = all ]; then
    for df in ws os is; do
        run resnet18 conv 32 32 "$df" CALC 10 256
    done
    run resnet18 conv 32 32 ws USER 10 256      # stalls: ~11 GB peak
    for df in ws os is; do
        run resnet18 conv 16 64 "$df" CALC 10 256
    done
fi
if [ "$what" = compute ] || [ "$what" = all ]; then
    for shape in "64 64" "128 32"; do
        set -- $shape
        for df in ws os is; do
            compute_only resnet18 conv "$1" "$2" "$df"
        done
    done
fi
