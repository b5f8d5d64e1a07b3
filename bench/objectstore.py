"""What one S3 client per process saves: presign, put and get with the kept client vs a client per call.

    python bench/objectstore.py [--calls 200]

Starts SeaweedFS (the embedded S3) in a temporary directory, then times the same calls through
`ObjectStore` (one client for the process) and through a fresh aioboto3 client per call (what the
store did before). Prints the mean per call of each; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.kit.objectstore import ObjectStore  # noqa: E402
from services.kit.settings import load_settings  # noqa: E402
from simswarm.stack import SeaweedS3  # noqa: E402


async def per_call(calls: int, fn: Callable[[], Awaitable[object]]) -> float:
    """Mean seconds per call of `fn`, after one warm-up call."""
    await fn()
    start = time.perf_counter()
    for _ in range(calls):
        await fn()
    return (time.perf_counter() - start) / calls


async def bench(endpoint: str, access_key: str, secret_key: str, calls: int) -> None:
    settings = load_settings(
        {
            "S3_ENDPOINT": endpoint,
            "S3_ACCESS_KEY": access_key,
            "S3_SECRET_KEY": secret_key,
            "S3_BUCKET": "bench",
            "SIMSWARM_HOME": tempfile.mkdtemp(),
        }
    )
    key, payload = "bench/object.json", b"{}" * 512
    async with ObjectStore(settings) as store:
        await store.ensure_bucket()
        await store.put_bytes(key, payload)

        async def fresh_presign() -> object:
            async with store._session.client("s3", endpoint_url=store.endpoint, config=store._config) as s3:
                return await s3.generate_presigned_url(
                    "get_object", Params={"Bucket": store.bucket, "Key": key}
                )

        async def fresh_get() -> object:
            async with store._session.client("s3", endpoint_url=store.endpoint, config=store._config) as s3:
                resp = await s3.get_object(Bucket=store.bucket, Key=key)
                async with resp["Body"] as body:
                    return await body.read()

        rows = [
            (
                "presign_get",
                await per_call(calls, fresh_presign),
                await per_call(calls, lambda: store.presign_get(key)),
            ),
            (
                "get_bytes",
                await per_call(calls, fresh_get),
                await per_call(calls, lambda: store.get_bytes(key)),
            ),
            ("put_bytes", None, await per_call(calls, lambda: store.put_bytes(key, payload))),
        ]
    print(f"{'call':<12} {'client per call':>16} {'one client':>12}   ({calls} calls each)")
    for name, fresh, kept in rows:
        fresh_text = f"{fresh * 1000:13.2f} ms" if fresh is not None else f"{'-':>16}"
        print(f"{name:<12} {fresh_text} {kept * 1000:9.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="simswarm-bench-s3-"))
    s3 = SeaweedS3(home / "s3").start()
    try:
        asyncio.run(bench(s3.endpoint, s3.access_key, s3.secret_key, args.calls))
    finally:
        s3.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
