"""Sandbox throughput: in-process and on loopback, against a bare endpoint of the same server.

Run: .venv/bin/python bench/sandbox.py [--seconds 3] [--threads 4]

Prints requests per second for balance inquiry in-process (the sandbox alone), pay + refund flows
per second through the Ovo flows in-process, and on loopback the sandbox's balance inquiry rate as a share of a bare
endpoint served by the same HTTP server class in the same run (target: at least 40 %), with
signature verification and SQLite persistence on.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx


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
    os.environ["OVO_NB_HOME"] = str(folder / "home")
    from ovo_nb.calllog import CallLog
    from ovo_nb.flows import Ovo
    from ovo_nb.sandbox import SandboxServer, SandboxTransport

    ovo = Ovo.open(sandbox_state=folder / "state.sqlite", call_log=CallLog(":memory:"), sleep=lambda s: None)
    phone = "081234567890"
    ovo.bind(phone)
    access = ovo.access_token(phone)
    builder = ovo.client.builder
    direct = httpx.Client(transport=SandboxTransport(ovo.sandbox))  # no client-side logging: the sandbox alone
    inprocess_balance = rate(lambda: direct.send(builder.build("balance_inquiry", {}, token=access)), args.seconds)
    ovo.sandbox.update_customer(phone, cash="999999999999.00")

    def flow() -> None:
        payment = ovo.pay(phone, "1000.00")
        ovo.refund(payment.partner_reference_no, "1000.00")

    inprocess_flow = rate(flow, args.seconds)

    bare = ThreadingHTTPServer(("127.0.0.1", 0), _Bare)
    bare.daemon_threads = True
    threading.Thread(target=bare.serve_forever, daemon=True).start()
    bare_url = f"http://127.0.0.1:{bare.server_address[1]}"
    with SandboxServer(ovo.sandbox) as server:
        local = threading.local()

        def client() -> httpx.Client:
            if not hasattr(local, "client"):
                local.client = httpx.Client()
            return local.client  # type: ignore[no-any-return]

        remote = dataclasses.replace(builder, base_url=server.url)

        def sandbox_call() -> None:
            assert client().send(remote.build("balance_inquiry", {}, token=access)).status_code == 200

        def bare_call() -> None:
            request = remote.build("balance_inquiry", {}, token=access)
            request.url = httpx.URL(bare_url + request.url.raw_path.decode())
            assert client().send(request).status_code == 200

        bare_rate = rate(bare_call, args.seconds, args.threads)
        sandbox_rate = rate(sandbox_call, args.seconds, args.threads)
    bare.shutdown()
    print(f"{'figure':<58} {'value':>12}")
    print(f"{'in-process balance inquiry (requests/s)':<58} {inprocess_balance:>12.0f}")
    print(f"{'in-process pay+refund through Ovo flows (flows/s)':<58} {inprocess_flow:>12.1f}")
    print(f"{'loopback bare endpoint, same server class (requests/s)':<58} {bare_rate:>12.0f}")
    print(f"{'loopback sandbox balance inquiry (requests/s)':<58} {sandbox_rate:>12.0f}")
    print(f"{'loopback sandbox / bare (target >= 0.40)':<58} {sandbox_rate / bare_rate:>12.2f}")


if __name__ == "__main__":
    main()
