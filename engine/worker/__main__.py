"""`python -m engine.worker --host 127.0.0.1 --port 8081 [--token-file F] [--llm-url URL]`.

The token comes from `SIMSWARM_POD_TOKEN` or `--token-file`, never from the command line (other
users of the machine can read command lines).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

from engine.worker.app import create_app
from engine.worker.settings import settings_from_env


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, build the settings, serve until interrupted."""
    p = argparse.ArgumentParser(prog="python -m engine.worker", description="SimSwarm pod worker API.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--token-file", type=Path, help="file holding the bearer token (else $SIMSWARM_POD_TOKEN)")
    p.add_argument("--llm-url", help="OpenAI-compatible base URL (else $SIMSWARM_LLM_URL)")
    p.add_argument("--model", help="default model id (else $SIMSWARM_MODEL)")
    p.add_argument("--work-dir", type=Path, help="where runs write their files (else $SIMSWARM_WORK_DIR)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = settings_from_env(
            token_file=args.token_file, llm_url=args.llm_url, model=args.model, work_dir=args.work_dir
        )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
