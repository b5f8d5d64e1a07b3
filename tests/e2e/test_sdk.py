"""The SDK against the whole platform (`simswarm up`): waiting on jobs that really run, through a
proxy that really cuts the event stream mid-way (tests/netproxy.py), the timeline it delivers,
verified downloads of a completed job's files, cancel, retry and share."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simswarm.client import AsyncClient, Client, Conflict, Job, NotFound, TimelineEvent
from simswarm.supervisor import Supervisor
from tests.e2e.conftest import QUESTION, SEED, api_key
from tests.netproxy import DroppingProxy

pytestmark = pytest.mark.e2e


@pytest.fixture
def proxy(platform: Supervisor) -> Iterator[DroppingProxy]:
    host, port = platform.api_url.removeprefix("http://").rsplit(":", 1)
    with DroppingProxy(host, int(port)) as p:
        yield p


@pytest.fixture(scope="module")
def completed(platform: Supervisor) -> Job:
    """One job that ran to completion (shared by the read-only tests below)."""
    with Client(platform.api_url, api_key(platform)) as client:
        job = client.create(SEED, QUESTION, policy="heuristic", agents=12, rounds=5, random_seed=21)
        done = client.wait(job.job_id, timeout=300, progress=False)
    assert done.status == "completed", done.error
    return done


def _resume_points(heads: list[bytes]) -> list[int | None]:
    """The Last-Event-ID of each stream request (None: from the start)."""
    points: list[int | None] = []
    for head in heads:
        values = [
            ln.split(b":", 1)[1].strip()
            for ln in head.split(b"\r\n")
            if ln.lower().startswith(b"last-event-id:")
        ]
        points.append(int(values[0]) if values else None)
    return points


def test_wait_resumes_after_the_stream_is_cut(platform, proxy):
    # Each of the first three stream connections is cut after 2,000 bytes of its answer: a few
    # events, and usually the middle of the next one.
    proxy.cut_responses(b"/stream ", after_bytes=2000, times=3)
    seen: list[TimelineEvent] = []
    with Client(proxy.url, api_key(platform)) as client:
        job = client.create(SEED, QUESTION, policy="heuristic", agents=12, rounds=12, random_seed=22)
        done = client.wait(job.job_id, timeout=300, progress=False, on_event=seen.append)
        assert done.status == "completed", done.error
        stored = list(client.events(job.job_id))
    assert proxy.cuts >= 2
    points = _resume_points(proxy.heads_with(b"/stream "))
    assert len(points) == proxy.cuts + 1 and points[0] is None
    resumed = [p for p in points[1:] if p is not None]
    assert (
        resumed and resumed == sorted(resumed) and len(set(resumed)) == len(resumed)
    )  # each went on further
    assert all(p in {e.seq for e in stored} for p in resumed)  # from an event it had received whole
    # Exactly the stored timeline: nothing twice, nothing skipped, in order, ending in JobCompleted.
    assert [e.seq for e in seen] == [e.seq for e in stored]
    assert [e.type for e in seen] == [e.type for e in stored]
    assert seen[-1].type == "JobCompleted"


def test_events_follow_through_cuts_with_the_async_client(platform, proxy):
    proxy.cut_responses(b"/stream ", after_bytes=1500, times=2)

    async def follow() -> tuple[list[int], list[int]]:
        async with AsyncClient(proxy.url, api_key(platform)) as client:
            job = await client.create(SEED, QUESTION, policy="heuristic", agents=10, rounds=6, random_seed=23)
            live = [e.seq async for e in client.events(job.job_id, follow=True)]
            stored = [e.seq async for e in client.events(job.job_id)]
            assert (await client.get(job.job_id)).terminal
            return live, stored

    live, stored = asyncio.run(follow())
    assert proxy.cuts >= 1
    assert live == stored and len(set(live)) == len(live)


def test_download_verifies_every_file_and_skips_intact_ones(platform, completed, tmp_path):
    dest = tmp_path / "run"
    with Client(platform.api_url, api_key(platform)) as client:
        listing = {f.name: f for f in client.sim_data(completed.job_id).files}
        first = client.download(completed.job_id, dest)
        assert {f.name for f in first} == set(listing) and not any(f.skipped for f in first)
        for f in first:
            assert hashlib.sha256(f.path.read_bytes()).hexdigest() == listing[f.name].sha256
        assert {"posts.json", "market_curves.json", "manifest.json"} <= set(listing)
        assert all(f.skipped for f in client.download(completed.job_id, dest))
        (dest / "posts.json").write_bytes(b"[]")  # changed locally: fetched again
        again = {f.name: f.skipped for f in client.download(completed.job_id, dest)}
        assert not again["posts.json"] and sum(again.values()) == len(listing) - 1
    assert sorted(p.name for p in dest.iterdir()) == sorted(listing)  # no temporary files left


def test_results_report_graph_pdf_and_share(platform, completed, tmp_path):
    with Client(platform.api_url, api_key(platform)) as client:
        assert client.report(completed.job_id).startswith("#")
        graph = client.graph(completed.job_id)
        assert graph.job_id == completed.job_id and graph.nodes
        pdf = client.export_pdf(completed.job_id, tmp_path / "report.pdf")
        assert pdf.read_bytes().startswith(b"%PDF")
        link = client.share(completed.job_id)
        public = httpx.get(f"{platform.api_url}/api/share/{link.share_token}", timeout=30)
        assert public.status_code == 200 and public.json()["job_id"] == completed.job_id
        client.unshare(completed.job_id)
        assert httpx.get(f"{platform.api_url}/api/share/{link.share_token}", timeout=30).status_code == 404
        with pytest.raises(Conflict) as err:
            client.cancel(completed.job_id)
        assert err.value.code == "job_finished"
        with pytest.raises(NotFound) as nf:
            client.get("f" * 32)
        assert nf.value.code == "job_not_found"


def test_cancel_and_retry(platform):
    with Client(platform.api_url, api_key(platform)) as client:
        live = client.create(SEED, QUESTION, policy="heuristic", agents=60, rounds=400, random_seed=24)
        client.cancel(live.job_id)
        cancelled = client.wait(live.job_id, timeout=300, progress=False)
        assert cancelled.status == "cancelled"
        again = client.retry(live.job_id)
        assert again.job_id != live.job_id and again.retry_of == live.job_id
        client.cancel(again.job_id)
        assert client.wait(again.job_id, timeout=300, progress=False).status == "cancelled"
        listed = [j.job_id for j in client.list(per_page=1, limit=3)]
        assert listed[:2] == [again.job_id, live.job_id] or again.job_id in listed


def test_the_cli_downloads_through_the_sdk(platform, completed, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "SIMSWARM_API_URL": platform.api_url, "SIMSWARM_API_KEY": api_key(platform)}
    dest = tmp_path / "cli"
    run = [sys.executable, "-m", "simswarm.cli", "download", completed.job_id, str(dest)]
    first = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    assert "SHA-256 verified" in first.stderr
    second = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert second.returncode == 0 and "SHA-256 verified" not in second.stderr and "intact" in second.stderr
    assert Path(dest / "manifest.json").exists()


def test_the_cli_runs_lists_and_retries_through_the_sdk(platform, tmp_path):
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "SIMSWARM_API_URL": platform.api_url,
        "SIMSWARM_API_KEY": api_key(platform),
        "COLUMNS": "200",
    }
    seed = tmp_path / "seed.txt"
    seed.write_text(SEED, encoding="utf-8")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "simswarm.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    run = cli(
        "run",
        str(seed),
        "-q",
        QUESTION,
        "--policy",
        "heuristic",
        "--agents",
        "8",
        "--rounds",
        "3",
        "--seed",
        "31",
    )
    assert run.returncode == 0, run.stderr
    assert "job completed" in run.stderr and "simswarm download" in run.stderr
    job_id = run.stderr.split("job ", 1)[1].split()[0]
    listed = cli("jobs", "--limit", "5")
    assert listed.returncode == 0 and job_id[:8] in listed.stdout
    # A completed job cannot be retried: the server's code reaches the user.
    retried = cli("retry", job_id)
    assert retried.returncode == 1 and "HTTP 409" in retried.stderr
    waited = cli("wait", job_id, "--quiet")
    assert waited.returncode == 0 and waited.stdout.strip() == "completed"
