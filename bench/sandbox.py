"""Sandbox throughput: in-process and on loopback, against a bare endpoint of the same server.

Run: .venv/bin/python bench/sandbox.py [--seconds 3] [--threads 4]

Prints requests per second for balance inquiry in-process, full bind -> debit -> refund flows
per second in-process, and on loopback the sandbox's balance inquiry rate as a share of a bare
endpoint served by the same HTTP server class in the same run (target: at least 40 %), with
signature verification and SQLite persistence on.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from sandbox_harness import RICH, Harness

from ovo_nb.sandbox import SandboxServer, Store


class _Bare(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # answers leave in several writes; do not wait for ACKs between them
    body = b'{"responseCode":"2001100","responseMessage":"Successful"}'

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


def rate(work: Any, seconds: float, threads: int = 1) -> float:
    """Calls of ``work()`` per second over ``seconds``, from ``threads`` threads."""
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def loop(index: int) -> None:
        while time.perf_counter() < stop:
            work()
            counts[index] += 1

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    h = Harness(folder / "keys", Store(folder / "state.sqlite"))
    bound = h.bind(RICH)
    inprocess_balance = rate(lambda: h.call("balance_inquiry", {}, token=bound.access), args.seconds)
    h.sandbox.update_customer(RICH, cash="999999999999.00")
    counter = iter(range(10**9))

    def flow() -> None:
        n = next(counter)
        assert h.pay(bound, f"BENCH-{n}", "1000.00").status_code == 200
        assert h.refund(f"BENCH-{n}", f"BENCH-RF-{n}", "1000.00").status_code == 200

    inprocess_flow = rate(flow, args.seconds)

    bare = ThreadingHTTPServer(("127.0.0.1", 0), _Bare)
    bare.daemon_threads = True
    threading.Thread(target=bare.serve_forever, daemon=True).start()
    bare_url = f"http://127.0.0.1:{bare.server_address[1]}"
    with SandboxServer(h.sandbox) as server:
        local = threading.local()

        def client() -> httpx.Client:
            if not hasattr(local, "client"):
                local.client = httpx.Client()
            return local.client  # type: ignore[no-any-return]

        builder = h.make_builder(base_url=server.url)

        def sandbox_call() -> None:
            assert client().send(builder.build("balance_inquiry", {}, token=bound.access)).status_code == 200

        def bare_call() -> None:
            request = builder.build("balance_inquiry", {}, token=bound.access)
            request.url = httpx.URL(bare_url + request.url.raw_path.decode())
            assert client().send(request).status_code == 200

        bare_rate = rate(bare_call, args.seconds, args.threads)
        sandbox_rate = rate(sandbox_call, args.seconds, args.threads)
    bare.shutdown()
    print(f"{'figure':<58} {'value':>12}")
    print(f"{'in-process balance inquiry (requests/s)':<58} {inprocess_balance:>12.0f}")
    print(f"{'in-process bind->debit->refund flows (payments+refunds/s)':<58} {inprocess_flow:>12.1f}")
    print(f"{'loopback bare endpoint, same server class (requests/s)':<58} {bare_rate:>12.0f}")
    print(f"{'loopback sandbox balance inquiry (requests/s)':<58} {sandbox_rate:>12.0f}")
    print(f"{'loopback sandbox / bare (target >= 0.40)':<58} {sandbox_rate / bare_rate:>12.2f}")


if __name__ == "__main__":
    main()
