"""``hwsim count`` on meta tensors goes through the trace cache: a later run prints the same figures from
it without importing torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COUNT = ("import atexit, os, sys; "
         "atexit.register(lambda: os.write(2, ('torch=%s' % ('torch' in sys.modules)).encode())); "
         "from hwsim.cli import main; sys.argv = ['hwsim', 'count', 'resnet20', '--scheme', 'bnn', '--json']; main()")


def test_a_later_count_reads_the_cache_and_imports_no_torch(tmp_path):
    env = dict(os.environ, HWSIM_CACHE_DIR=str(tmp_path / "cache"), HWSIM_TRACE_CACHE="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    runs = [subprocess.run([sys.executable, "-c", COUNT], env=env, capture_output=True, text=True, timeout=300)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr[-500:]
    assert [r.stderr.strip().rsplit("\n", 1)[-1] for r in runs] == ["torch=True", "torch=False"]
    docs = [json.loads(r.stdout) for r in runs]
    for d in docs:
        d["trace"]["meta"].pop("seconds")
    assert docs[0] == docs[1] and docs[1]["summary"]["totals"]["macs"]
