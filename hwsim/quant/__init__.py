"""Quantizers and quantized layers.

* :mod:`hwsim.quant.functions`: one function per quantizer formula of the seeds, with its
  straight-through gradient (sign, hard sigmoid, BWN, XNOR-Net's K, TWN, TTQ, LQ-Nets, k-bit).
* :mod:`hwsim.quant.layers`: ``QConv2d`` / ``QLinear`` (quantizer slots + ``hwsim_precision``),
  the quantizer modules they hold, and ``convert_layers(model, plan)``, the composable way every
  scheme converts a model.
* :mod:`hwsim.quant.pack`, :mod:`hwsim.quant.stash`, :mod:`hwsim.quant.graham`: bit-packing,
  stash codecs, Graham's quantizers.

Nothing is imported here, so ``import hwsim.quant.pack`` does not pull in the layers.
"""
