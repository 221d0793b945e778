"""Evidence vault benchmarks (``make bench-vault``):

- ingest of a large file (``qorgau vault add``'s path: hash, encrypt, durable write, log entry,
  signed head) against ``openssl dgst -sha256`` of the same file in the same run;
- ``verify`` of a vault of N items (every blob decrypted and re-hashed, every entry re-hashed,
  every head re-checked);
- inclusion and consistency proof generation in a tree of N leaves;
- capture of a loopback page (WARC + WACZ + full-page screenshot + text).

    python -m benchmarks.vault          # N = 100,000, a 512 MiB file
    QUICK=1 python -m benchmarks.vault  # N = 10,000, 64 MiB
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmarks.driver import machine

QUICK = os.environ.get("QUICK") == "1"
N_ITEMS = 10_000 if QUICK else 100_000
FILE_MB = 64 if QUICK else 512


def _desk(data_dir: Path):  # type: ignore[no-untyped-def]
    from qorgau.config import Settings
    from qorgau.desk import CaseDesk
    from qorgau.store import migrate, users
    from qorgau.store.store import open_store
    from qorgau.vault_desk import VaultDesk

    s = Settings(data_dir=data_dir)
    store = open_store(s, create_keys=True)
    migrate.upgrade(store.engine)
    with store.write() as conn:
        users.ensure_org(conn, "default", "bench", store.now())
    return VaultDesk(CaseDesk(store))


def bench_ingest(tmp: Path) -> dict[str, float]:
    big = tmp / "big.bin"
    with big.open("wb") as f:
        for _ in range(FILE_MB):
            f.write(os.urandom(1024 * 1024))
    t0 = time.perf_counter()
    subprocess.run(["openssl", "dgst", "-sha256", str(big)], check=True, capture_output=True)
    openssl_s = time.perf_counter() - t0
    vd = _desk(tmp / "ingest")
    admin = vd.cases.system("bench")
    t0 = time.perf_counter()
    vd.add_path(admin, big)  # what `qorgau vault add FILE` does
    ingest_s = time.perf_counter() - t0
    mb = FILE_MB
    return {
        "MB": mb,
        "openssl MB/s": mb / openssl_s,
        "vault MB/s": mb / ingest_s,
        "ratio": openssl_s / ingest_s,
    }


def bench_verify_and_proofs(tmp: Path) -> dict[str, float]:
    from qorgau.store.vault import NewItem, add_items, leaf_hashes
    from qorgau.vault.merkle import MerkleTree

    vd = _desk(tmp / "verify")
    store = vd.store
    admin = vd.cases.system("bench")
    now = store.now()
    t0 = time.perf_counter()
    batch: list[NewItem] = []
    for i in range(N_ITEMS):
        data = f"item {i} {os.urandom(8).hex()}".encode()
        sha = vd.blobs.put(data)
        batch.append(
            NewItem(
                org_id=admin.org_id,
                sha256=sha,
                size=len(data),
                media_type="text/plain",
                method="bench",
                collector_id=None,
                collector_name="bench",
                collected_at=now,
            )
        )
        if len(batch) == 1000:
            with store.write() as conn:
                add_items(conn, store.cipher, vd.keys, batch, now)
            batch = []
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = vd.verify(admin)
    verify_s = time.perf_counter() - t0
    assert report.ok, report.problems[:3]
    with store.read() as conn:
        tree = MerkleTree(leaf_hashes(conn))
    t0 = time.perf_counter()
    for k in range(200):
        tree.inclusion_proof((k * 7919) % tree.size, tree.size)
    incl_ms = (time.perf_counter() - t0) / 200 * 1000
    t0 = time.perf_counter()
    for k in range(200):
        tree.consistency_proof(1 + (k * 7919) % (tree.size - 1), tree.size)
    cons_ms = (time.perf_counter() - t0) / 200 * 1000
    return {
        "items": N_ITEMS,
        "load s": load_s,
        "verify s": verify_s,
        "inclusion proof ms": incl_ms,
        "consistency proof ms": cons_ms,
    }


PAGE = (
    "<html><head><title>Продам оборудование</title></head><body>"
    + "<p>Объявление. Звонить +7 700 000 0101.</p>" * 200
    + "</body></html>"
).encode()


def bench_capture() -> dict[str, float]:
    from qorgau.vault.capture import capture

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ad"
    times = []
    try:
        for _ in range(3):
            t0 = time.perf_counter()
            r = capture(url)
            times.append(time.perf_counter() - t0)
            assert r.ok and r.screenshot_png
    finally:
        server.shutdown()
    return {"capture s (best of 3)": min(times), "capture s (worst)": max(times)}


def main() -> None:
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="qorgau-vault-bench-") as d:
        tmp = Path(d)
        ingest = bench_ingest(tmp)
        print(ingest, file=sys.stderr)
        ver = bench_verify_and_proofs(tmp)
        print(ver, file=sys.stderr)
        cap = bench_capture()
        print(cap, file=sys.stderr)
    print(f"### Evidence vault ({started:%Y-%m-%d %H:%M} UTC, {machine().split('; wrk')[0]})")
    print()
    print("| what | result | target |")
    print("| --- | --- | --- |")
    print(
        f"| ingest of a {ingest['MB']:.0f} MiB file (hash, encrypt, fsync, log, signed head) |"
        f" {ingest['vault MB/s']:.0f} MB/s = {ingest['ratio'] * 100:.0f}% of"
        f" `openssl dgst -sha256` ({ingest['openssl MB/s']:.0f} MB/s) | ≥ 50% |"
    )
    print(
        f"| verify of a {ver['items']:,}-item vault | {ver['verify s']:.1f} s"
        f" (built in {ver['load s']:.0f} s) | ≤ 30 s |"
    )
    print(
        f"| proof generation ({ver['items']:,} leaves) | inclusion {ver['inclusion proof ms']:.2f}"
        f" ms, consistency {ver['consistency proof ms']:.2f} ms | ≤ 10 ms |"
    )
    print(
        f"| capture of a loopback page (WARC + WACZ + screenshot + text) |"
        f" {cap['capture s (best of 3)']:.2f} s best,"
        f" {cap['capture s (worst)']:.2f} s worst | ≤ 5 s |"
    )


if __name__ == "__main__":
    main()
