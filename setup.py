"""Build hook: the web app (web/, Vue + Vite) is built into services/gateway/webapp/ during installs.

Everything else about the package is in pyproject.toml. `pip install -e .` and `pip wheel .` run
`build_py`, which first runs `npm ci` (when web/node_modules is missing or stale) and `vite build`,
so a wheel carries the bundle and its users need no Node.js. Without node/npm, or when the build
fails (e.g. no network for `npm ci`), the install still succeeds, the API works, and the gateway's
`/` page says how to build the app; set SIMSWARM_SKIP_WEB_BUILD=1 to skip the build on purpose.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "web"
BUNDLE = ROOT / "services" / "gateway" / "webapp"
HOW_TO = (
    "The SimSwarm web app was NOT built ({why}). The API works without it; to get the app at '/',\n"
    "install Node.js 18+ with npm and run:  cd web && npm ci && npm run build  (or reinstall)."
)


def _say(message: str) -> None:
    # pip shows a build's output only with -v; stderr of a successful build is kept in its log.
    print(f"simswarm: {message}", file=sys.stderr, flush=True)


def _newest(paths: list[Path]) -> float:
    stamps = [
        p.stat().st_mtime
        for base in paths
        if base.exists()
        for p in ([base] if base.is_file() else base.rglob("*"))
        if p.is_file()
    ]
    return max(stamps, default=0.0)


def build_webapp() -> bool:
    """Build the bundle when its sources are newer; False (with a message) when it cannot."""
    if not (WEB / "package.json").is_file():
        return (BUNDLE / "index.html").is_file()  # an sdist/wheel without sources: use what is there
    if os.environ.get("SIMSWARM_SKIP_WEB_BUILD") == "1":
        _say(HOW_TO.format(why="SIMSWARM_SKIP_WEB_BUILD=1"))
        return False
    sources = [
        WEB / "src",
        WEB / "public",
        WEB / "index.html",
        WEB / "package-lock.json",
        WEB / "vite.config.ts",
    ]
    index = BUNDLE / "index.html"
    if index.is_file() and index.stat().st_mtime >= _newest(sources):
        return True
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        _say(HOW_TO.format(why="node and npm were not found"))
        return False
    try:
        stamp = WEB / "node_modules" / ".package-lock.json"
        if not stamp.is_file() or stamp.stat().st_mtime < (WEB / "package-lock.json").stat().st_mtime:
            _say("installing the web app's packages (npm ci)")
            subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, check=True)
        _say("building the web app (vite build) into services/gateway/webapp/")
        subprocess.run([npm, "run", "bundle"], cwd=WEB, check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        _say(HOW_TO.format(why=f"the build failed: {exc}"))
        return False
    return True


class BuildPyWithWebApp(build_py):
    """`build_py` that builds the web app first, so its files are package data of services.gateway."""

    def run(self) -> None:
        build_webapp()
        self.__dict__.pop("data_files", None)  # list package data again: the bundle may be new
        super().run()


setup(cmdclass={"build_py": BuildPyWithWebApp})
