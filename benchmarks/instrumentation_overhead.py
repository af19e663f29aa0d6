"""Step-time ratio instrumented / uninstrumented, same model and scheme, measured side by side.

    python benchmarks/instrumentation_overhead.py [--model resnet20] [--scheme fp32] [--batch 128]
                                                  [--steps 30] [--sample-every 50]

Two identical copies of the converted model train on the same batches on CPU, steps interleaved
(A, B, A, B, ...) so that machine load hits both alike. Copy B runs with a CountingCallback (the
normal path of ``hwsim train``): per-step hooks, sparsity sampled every ``--sample-every`` steps,
and at each epoch end the meta trace of any new step signature. Prints the ratio of mean step
times (sampling steps included), the ratio of median step times, and the one-off costs (the shape
trace at an epoch end, the real-step trace at the end of training), which a run pays once.
Target: ratio at most 1.05 (ResNet-20, batch 128, CPU).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--scheme", default="fp32")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--sample-every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args()

    import torch
    import torch.nn.functional as F

    import hwsim.count.sparsity as sparsity
    from hwsim.count import CountingCallback
    from hwsim.models import MODELS, build_model, load_all
    from hwsim.schemes import build_scheme

    # the callback's own time, measured directly (robust to machine load, unlike the ratio)
    own = {"on_step": 0.0, "note_batch": 0.0, "sample": 0.0}
    sample_fn = sparsity.layer_sample

    def timed_sample(*args, **kw):
        t = time.perf_counter()
        try:
            return sample_fn(*args, **kw)
        finally:
            own["sample"] += time.perf_counter() - t

    sparsity.layer_sample = timed_sample

    if a.threads:
        torch.set_num_threads(a.threads)
    load_all()
    spec = MODELS.get(a.model)
    torch.manual_seed(0)
    sch_a, sch_b = build_scheme(a.scheme), build_scheme(a.scheme)
    plain = sch_a.convert(build_model(a.model))
    inst = copy.deepcopy(plain)
    opts = [torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for m in (plain, inst)]
    cb = CountingCallback(sch_b, sample_every=a.sample_every, model_name=a.model)
    note_batch, on_step = cb._note_batch, cb.on_step

    def timed_note(*args):
        t = time.perf_counter()
        note_batch(*args)
        own["note_batch"] += time.perf_counter() - t

    def timed_on_step(*args):
        t = time.perf_counter()
        on_step(*args)
        own["on_step"] += time.perf_counter() - t

    cb._note_batch, cb.on_step = timed_note, timed_on_step
    cb.on_train_begin(inst, opts[1])
    gen = torch.Generator().manual_seed(0)
    batches = [(torch.randn(a.batch, *spec.default_input, generator=gen),
                torch.randint(0, spec.default_classes, (a.batch,), generator=gen)) for _ in range(4)]

    def step(model, opt, sch, x, y, k, callback=None):
        t0 = time.perf_counter()
        out = model(x)
        loss = F.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sch.on_step_end(model, k)
        if callback is not None:
            callback.on_step(model, k, 1, float(loss.detach()))
        return time.perf_counter() - t0

    for k in range(2):  # warm-up, not timed
        x, y = batches[k % 4]
        step(plain, opts[0], sch_a, x, y, k + 1)
    times_a, times_b = [], []
    for k in range(a.steps):
        x, y = batches[k % 4]
        if k % 2 == 0:
            times_a.append(step(plain, opts[0], sch_a, x, y, k + 1))
            times_b.append(step(inst, opts[1], sch_b, x, y, k + 1, cb))
        else:
            times_b.append(step(inst, opts[1], sch_b, x, y, k + 1, cb))
            times_a.append(step(plain, opts[0], sch_a, x, y, k + 1))
    t0 = time.perf_counter()
    cb.on_epoch_end(inst, 1, {"epoch": 1})
    t_epoch = time.perf_counter() - t0
    t0 = time.perf_counter()
    cb.on_train_end(inst, None)
    t_end = time.perf_counter() - t0

    mean_a, mean_b = statistics.fmean(times_a), statistics.fmean(times_b)
    med_a, med_b = statistics.median(times_a), statistics.median(times_b)
    print(f"{a.model} / {a.scheme}, batch {a.batch}, {a.steps} steps each, CPU threads {torch.get_num_threads()}, "
          f"sparsity sampled every {a.sample_every} steps ({len(next(iter(cb.timeline.values()), []))} samples)")
    print(f"uninstrumented step: mean {mean_a * 1e3:.1f} ms, median {med_a * 1e3:.1f} ms")
    print(f"instrumented step:   mean {mean_b * 1e3:.1f} ms, median {med_b * 1e3:.1f} ms")
    print(f"ratio instrumented / uninstrumented: mean {mean_b / mean_a:.3f}, median {med_b / med_a:.3f} "
          f"(target <= 1.05)")
    per_step = (own["on_step"] + own["note_batch"] + own["sample"]) / a.steps
    print(f"callback's own time: {per_step * 1e3:.2f} ms per step on average ({own['sample'] * 1e3:.1f} ms in "
          f"sparsity sampling, {(own['on_step'] + own['note_batch']) / a.steps * 1e6:.0f} us/step in hooks) = "
          f"{per_step / mean_a:.4f} of an uninstrumented step")
    print(f"one-off: shape trace of the step signature at epoch end {t_epoch:.2f} s; "
          f"real-step trace at the end of training {t_end:.2f} s")


if __name__ == "__main__":
    main()
