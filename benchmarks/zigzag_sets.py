"""The layer sets hwsim is checked against ZigZag on, beyond ResNet-18: networks, array sizes and precisions.

Each set is a list of independent layers run by ZigZag (``python benchmarks/zigzag_run.py --set NAME``
writes ``tests/fixtures/zigzag/set_<NAME>.json``) and by accel_models on the matched design
(``python benchmarks/vs_zigzag.py --set NAME``). Layer specs: ``conv:C,K,H,KERNEL,STRIDE[,GROUPS]`` (square,
the set's batch, padding kernel // 2) and ``gemm:ROWS,C,K`` (ROWS tokens or images times a C x K weight).
Nothing here imports hwsim or ZigZag.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerSet:
    name: str
    accelerator: str                 # ZigZag's design (and the matched hwsim design of benchmarks/vs_zigzag.py)
    layers: tuple[str, ...]
    array: int | None = None         # a square array of this side instead of the design's own
    weight_bits: int | None = None   # None: 8
    act_bits: int | None = None      # None: 8
    about: str = ""
    spatial: tuple[str, ...] = ()    # ZigZag's spatial unrolling instead of the design's ("D1=K,32", ...)
    cols: int | None = None          # with ``array``: an array x cols array (array rows reduce)
    sram_kib: int | None = None      # the input SRAM's size instead of the design's (KiB)
    im2col: bool = False             # ZigZag also unrolls FX (FY) over the rows where C is smaller (--im2col)
    batch: int = 1                   # images per convolution (a gemm's ROWS already count its tokens)

    def zigzag_hardware(self) -> str:
        """ZigZag's hardware file for the set: the matched copy (MATCHED_HARDWARE) where there is one, else
        the design shipped with ZigZag."""
        return MATCHED_HARDWARE.get(self.accelerator, self.accelerator)


# ZigZag designs made like hwsim's matched design field by field (the file says which fields and why),
# relative to the repository root
MATCHED_HARDWARE = {"tpu_like": "benchmarks/zigzag_hardware/tpu_like_matched.yaml",
                    "tpu_like_os": "benchmarks/zigzag_hardware/tpu_like_os_matched.yaml"}
# the ZigZag mapping file (inputs/mapping) a matched design starts from, where it is not the design's own name
ZIGZAG_MAPPING = {"tpu_like_os": "tpu_like"}


# MobileNet-V2 (Sandler et al. 2018) at 224: the stem, depthwise 3x3 (stride 1 and 2), 1x1 expansions and
# projections from each stage, the last 1x1 and the classifier
MOBILENET_V2 = (
    "conv:3,32,224,3,2", "conv:32,32,112,3,1,32", "conv:32,16,112,1,1", "conv:16,96,112,1,1",
    "conv:96,96,112,3,2,96", "conv:96,24,56,1,1", "conv:144,144,56,3,2,144", "conv:144,32,28,1,1",
    "conv:384,384,14,3,1,384", "conv:384,96,14,1,1", "conv:960,960,7,3,1,960", "conv:960,320,7,1,1",
    "conv:320,1280,7,1,1", "gemm:1,1280,1000",
)
# VGG-16 (Simonyan and Zisserman 2015) convolutions from each stage and its three fully connected layers at
# batch 1, and AlexNet's 11x11 stride-4 first layer
VGG16_FC = (
    "conv:3,64,224,3,1", "conv:64,64,224,3,1", "conv:128,256,56,3,1", "conv:256,256,56,3,1",
    "conv:512,512,28,3,1", "conv:512,512,14,3,1", "gemm:1,25088,4096", "gemm:1,4096,4096", "gemm:1,4096,1000",
    "conv:3,96,224,11,4",
)
# the linear layers of BERT-base at 128 tokens (Q/K/V/output projections, the two MLP layers) and GPT-2
# small at 64 tokens (its fused QKV projection, output projection and MLP)
TRANSFORMER = (
    "gemm:128,768,768", "gemm:128,768,3072", "gemm:128,3072,768",
    "gemm:64,768,2304", "gemm:64,768,768", "gemm:64,768,3072", "gemm:64,3072,768",
)
# one of each kind for the array-size and precision sweeps
MIXED = (
    "conv:3,64,224,7,2", "conv:64,64,56,3,1", "conv:64,128,56,1,2", "conv:128,256,28,3,2", "conv:256,256,14,3,1",
    "conv:512,512,7,3,1", "conv:96,96,112,3,2,96", "gemm:128,768,768", "gemm:128,768,3072", "gemm:1,4096,1000",
)

# late stages at 14x14 and 7x7: stride-2 3x3 and 1x1 downsampling convolutions and 1x1 expansions
LATE = (
    "conv:256,512,14,3,2", "conv:256,512,14,1,2", "conv:512,512,7,3,1", "conv:512,2048,7,1,1",
    "conv:2048,512,7,1,1", "conv:128,256,28,3,2", "conv:1024,256,14,1,1", "gemm:1,2048,1000",
)

# shapes no other set has: 5x5 convolutions (padding 2) at stride 1 and 2, 3x3 stride-2 convolutions on odd
# sides (27, 13), a 1x1 at 7x7, and linear layers of sizes that divide no array side (50 tokens x 500 -> 300,
# ViT-S/16's 196 patches x 384 -> 1,152)
ODD = (
    "conv:48,64,27,5,1", "conv:64,128,27,3,2", "conv:96,192,13,5,1", "conv:192,160,13,3,2", "conv:16,32,56,5,2",
    "conv:160,320,7,1,1", "gemm:50,500,300", "gemm:196,384,1152",
)

# linear layers for the output-stationary arrays: unaligned sizes, a 3,072-wide reduction and a one-row classifier
OS_GEMM = ("gemm:50,500,300", "gemm:196,384,1152", "gemm:128,768,768", "gemm:64,3072,768", "gemm:1,4096,1000")

SETS = {s.name: s for s in (
    LayerSet("mobilenet_v2_tpu_like", "tpu_like", MOBILENET_V2, im2col=True, about="MobileNet-V2, TPU-like 32x32"),
    LayerSet("vgg16_fc_tpu_like", "tpu_like", VGG16_FC, im2col=True, about="VGG-16 convs and FC layers, AlexNet conv1"),
    LayerSet("transformer_tpu_like", "tpu_like", TRANSFORMER, about="BERT-base (128 tokens) and GPT-2 small "
                                                                     "(64 tokens) linear layers"),
    LayerSet("mixed_tpu_like_16", "tpu_like", MIXED, array=16, about="TPU-like, 16x16 array"),
    LayerSet("mixed_tpu_like_64", "tpu_like", MIXED, im2col=True, array=64, about="TPU-like, 64x64 array"),
    LayerSet("mixed_tpu_like_128", "tpu_like", MIXED, im2col=True, array=128, about="TPU-like, 128x128 array"),
    LayerSet("mixed_tpu_like_w4", "tpu_like", MIXED, im2col=True, weight_bits=4, about="TPU-like 32x32, 4-bit weights"),
    # an output-stationary array (SCALE-Sim's os dataflow) against ZigZag's TPU-like made output-stationary
    # (benchmarks/zigzag_hardware/tpu_like_os_matched.yaml): tokens x output features unrolled, the reduction
    # in each PE's running-sum register, weights and inputs streamed from their SRAMs
    LayerSet("transformer_tpu_like_os", "tpu_like_os", TRANSFORMER, spatial=("D1=K,32", "D2=D,32"),
             about="transformer linear layers, TPU-like 32x32 output-stationary (tokens x output features "
                   "unrolled, the reduction in each PE)"),
    LayerSet("gemm_tpu_like_os_16", "tpu_like_os", OS_GEMM, array=16, spatial=("D1=K,16", "D2=D,16"),
             about="unaligned and wide-reduction linear layers, TPU-like 16x16 output-stationary"),
    LayerSet("mixed_tpu_like_32x8", "tpu_like", MIXED, im2col=True, array=32, cols=8, about="TPU-like, a 32 x 8 array "
             "(32 rows reduce, 8 output channels)"),
    LayerSet("late_tpu_like_sram256k", "tpu_like", LATE, sram_kib=256, about="late-stage stride-2 and 1x1 "
             "convolutions, TPU-like 32x32 with a 256 KiB input SRAM"),
    LayerSet("late_tpu_like_64_sram2m", "tpu_like", LATE, array=64, sram_kib=2048, about="the same layers, "
             "TPU-like 64x64 with a 2 MiB input SRAM"),
    LayerSet("odd_tpu_like_16x32", "tpu_like", ODD, array=16, cols=32, im2col=True, about="5x5 and odd-sided "
             "stride-2 convolutions, unaligned linear layers, TPU-like 16 x 32 (16 rows reduce, 32 output channels)"),
    LayerSet("odd_tpu_like_a4", "tpu_like", ODD, act_bits=4, im2col=True, about="the same layers with 4-bit "
             "activations (8-bit partial sums), TPU-like 32x32"),
    LayerSet("odd_tpu_like_b4", "tpu_like", ODD, batch=4, im2col=True, about="the same layers, the convolutions "
             "at batch 4, TPU-like 32x32"),
    LayerSet("odd_tpu_like_8x64", "tpu_like", ODD, array=8, cols=64, about="the same layers, TPU-like 8 x 64 (8 "
             "rows reduce, 64 output channels)"),
    LayerSet("mobilenet_v2_eyeriss_like", "eyeriss_like", MOBILENET_V2, about="MobileNet-V2, Eyeriss-like"),
    LayerSet("transformer_eyeriss_like", "eyeriss_like", TRANSFORMER, about="transformer linear layers, "
                                                                           "Eyeriss-like"),
    LayerSet("vgg16_fc_eyeriss_like", "eyeriss_like", VGG16_FC, about="VGG-16 and AlexNet conv1, Eyeriss-like"),
)}
