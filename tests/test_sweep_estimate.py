"""The runner's cost estimate for trained groups (longest first): forward MACs of one sample, counted by
the evaluation route, so the trace cache answers it on a later run without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hwsim.models.spec import Tokens


@pytest.fixture
def runner():
    from hwsim.sweep import runner

    runner._model_macs.cache_clear()
    yield runner
    runner._model_macs.cache_clear()


@pytest.mark.parametrize(("model", "shape", "classes"), [("lenet5", (1, 28, 28), 10), ("resnet20", (3, 32, 32), 10)])
def test_the_estimate_is_the_float_networks_forward_macs_of_one_sample(runner, model, shape, classes):
    from hwsim.count import trace

    direct = trace(model, None, batch=1, input_shape=shape, num_classes=classes, mode="infer", device="meta")
    want = sum(direct.totals()["macs"].values())
    assert want > 0
    assert runner._model_macs(model, "{}", classes, "tuple", shape) == want


def test_a_token_input_is_counted_as_tokens(runner):
    small = json.dumps({"layers": 2}, sort_keys=True)
    macs = runner._model_macs("llama2_7b", small, None, "Tokens", Tokens((16,)))
    assert macs > 0
    assert runner._model_macs("llama2_7b", small, None, "Tokens", Tokens((32,))) > macs


ESTIMATE = ("import sys; from hwsim.sweep.runner import _model_macs; from hwsim import trace_cache; "
            "m = _model_macs('resnet20', '{}', 10, 'tuple', (3, 32, 32)); "
            "print(m, 'torch' in sys.modules, trace_cache.counts.hits, trace_cache.counts.counted)")


def test_a_later_run_reads_the_estimate_from_the_trace_cache_without_torch(cached_env):
    runs = [subprocess.run([sys.executable, "-c", ESTIMATE], env=cached_env, capture_output=True, text=True, check=True,
                           timeout=300).stdout.split() for _ in range(2)]
    (m1, torch1, hits1, counted1), (m2, torch2, hits2, counted2) = runs
    assert m1 == m2 and int(m1) > 0
    assert (torch1, hits1, counted1) == ("True", "0", "1")     # counted, and filed
    assert (torch2, hits2, counted2) == ("False", "1", "0")    # read back: no torch in the parent
