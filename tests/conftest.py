"""Shared pytest set-up.

Browser tests (dash_duo, Playwright) run Debian's headless chromium; under
pytest-xdist each worker gets its own port range so servers never collide.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

# One OpenMP thread per test process (pytest -n 2 already fills both cores); set before torch loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The trace cache (hwsim.trace_cache) lives in a folder of this test process, never the user's, and is
# off unless a test turns it on (tests/test_trace_cache.py): a test that patches the counting code
# must count with the patch, which the cache's code hash does not see.
if "HWSIM_CACHE_DIR" not in os.environ:
    os.environ["HWSIM_CACHE_DIR"] = tempfile.mkdtemp(prefix="hwsim-test-cache-")
    atexit.register(shutil.rmtree, os.environ["HWSIM_CACHE_DIR"], ignore_errors=True)
os.environ.setdefault("HWSIM_TRACE_CACHE", "0")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,1000",
]


def pytest_setup_options():
    """Selenium options for dash[testing]'s dash_duo: headless Debian chromium."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    for f in CHROMIUM_FLAGS:
        options.add_argument(f)
    return options


def worker_index() -> int:
    wid = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(wid[2:]) if wid.startswith("gw") and wid[2:].isdigit() else 0


@pytest.fixture
def cached_env(tmp_path) -> dict[str, str]:
    """The environment for a subprocess of a test: the trace cache on, in a folder of this test, and this
    project importable."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return dict(os.environ, HWSIM_CACHE_DIR=str(tmp_path / "cache"), HWSIM_TRACE_CACHE="1",
                PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))


@pytest.fixture
def free_port() -> int:
    """A free TCP port on 127.0.0.1, from a range of this xdist worker's own."""
    import socket

    base = 18000 + 200 * worker_index()
    for port in range(base, base + 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def pytest_configure(config):
    # dash_duo numbers its servers' ports from a class counter that starts at 58050 in every process:
    # under xdist two workers would collide, and 58050+ lies in the kernel's ephemeral range where
    # chromedriver's own port can land. Give each worker its own range below the ephemeral ports.
    try:
        from dash.testing.application_runners import BaseDashRunner
    except ImportError:
        return
    BaseDashRunner._next_port = 20000 + 500 * worker_index()


# Browser tests skip only on a developer machine without chromium; scripts/test.sh (and so
# CI) sets HWSIM_REQUIRE_BROWSER=1, where a missing browser fails instead of skipping.
requires_chromium = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and shutil.which("chromedriver")) and not os.environ.get("HWSIM_REQUIRE_BROWSER"),
    reason="chromium/chromedriver not installed",
)
