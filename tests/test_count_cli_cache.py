"""``hwsim count`` on meta tensors goes through the trace cache: a later run prints the same figures from
it without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys

COUNT = ("import atexit, os, sys; "
         "atexit.register(lambda: os.write(2, ('torch=%s' % ('torch' in sys.modules)).encode())); "
         "from hwsim.cli import main; sys.argv = ['hwsim', 'count', 'resnet20', '--scheme', 'bnn', '--json']; main()")


def test_a_later_count_reads_the_cache_and_imports_no_torch(cached_env):
    runs = [subprocess.run([sys.executable, "-c", COUNT], env=cached_env, capture_output=True, text=True, timeout=300)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr[-500:]
    assert [r.stderr.strip().rsplit("\n", 1)[-1] for r in runs] == ["torch=True", "torch=False"]
    docs = [json.loads(r.stdout) for r in runs]
    for d in docs:
        d["trace"]["meta"].pop("seconds")
    assert docs[0] == docs[1] and docs[1]["summary"]["totals"]["macs"]
