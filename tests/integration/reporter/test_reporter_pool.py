"""The reporter's render processes (services/reporter/pool.py), real processes: same bytes as rendering
in the service's own process, a worker dying mid-report is replaced, a killed reporter leaves none."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from services.reporter import pool
from services.reporter.main import decode_and_compose, render_composed
from tests.integration.reporter.reporter_helpers import die_once

pytestmark = pytest.mark.integration


async def test_a_report_rendered_in_the_pool_is_byte_for_byte_the_one_rendered_here(run_files) -> None:
    art, report = decode_and_compose(run_files)
    here = render_composed(art, report)
    there = await pool.render_in_pool(render_composed, art, report)
    assert there.markdown == here.markdown
    assert there.charts == here.charts
    assert there.pdf == here.pdf
    assert (there.verdict, there.summary) == (here.verdict, here.summary)


async def test_a_render_process_that_dies_mid_report_is_replaced_and_the_report_rendered(tmp_path) -> None:
    before = await pool.render_in_pool(os.getpid)
    pid = await pool.render_in_pool(die_once, str(tmp_path / "died"))
    assert (tmp_path / "died").exists()  # the first attempt did die
    assert pid != before and pid != os.getpid()
    assert await pool.render_in_pool(os.getpid) != os.getpid()


_REPORTER = """
import sys, time
from services.reporter import pool
pool.warm()
while pool._pool is None:
    time.sleep(0.1)
print("ready", flush=True)
time.sleep(600)
"""


def test_the_render_processes_of_a_killed_reporter_exit() -> None:
    repo = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen([sys.executable, "-c", _REPORTER], cwd=repo, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert len(workers) >= pool.worker_count()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 30
        while any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers):
            assert time.monotonic() < deadline, [w.pid for w in workers if w.is_running()]
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()
