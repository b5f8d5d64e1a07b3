"""The SDK's documentation runs: every Python example of docs/sdk.md (in order, as one script) and
the README's five lines from a seed file to verified downloads, against the whole platform."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from simswarm.supervisor import Supervisor

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SEED = (ROOT / "simswarm" / "seeds" / "laguardia-crash.txt").read_text(encoding="utf-8")
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path: Path) -> list[str]:
    return _BLOCK.findall(path.read_text(encoding="utf-8"))


def _run(platform: Supervisor, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    (cwd / "seed.txt").write_text(SEED, encoding="utf-8")
    env = {
        **os.environ,
        "SIMSWARM_API_URL": platform.api_url,
        "SIMSWARM_API_KEY": (platform.home / "api-key").read_text().strip(),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_every_example_in_docs_sdk_md_runs(platform, tmp_path):
    blocks = python_blocks(ROOT / "docs" / "sdk.md")
    assert len(blocks) >= 8
    done = _run(platform, "\n".join(blocks), tmp_path)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "downloaded and verified" in done.stdout and "job_not_found" in done.stdout
    assert (tmp_path / "run" / "manifest.json").exists() and (tmp_path / "run" / "report.pdf").exists()
    assert "cancelled" in done.stdout and "completed" in done.stdout


def test_the_readme_goes_from_a_seed_file_to_verified_downloads_in_five_lines(platform, tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in python_blocks(ROOT / "README.md") if "download" in b]
    assert blocks, "README.md has no Python example that downloads"
    code = blocks[0]
    assert len([ln for ln in code.splitlines() if ln.strip()]) <= 5, code
    assert "docs/sdk.md" in readme
    done = _run(platform, code, tmp_path)
    assert done.returncode == 0, done.stderr
    files = list((tmp_path / "run").iterdir())
    assert any(f.name == "manifest.json" for f in files) and not [
        f for f in files if f.name.endswith(".part")
    ]
