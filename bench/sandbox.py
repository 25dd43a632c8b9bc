"""Sandbox throughput: in-process and on loopback, against a bare endpoint of the same server.

Run: .venv/bin/python -m bench.sandbox [--seconds 3] [--threads 4]

Prints requests per second for balance inquiry in-process (the sandbox alone), pay + refund flows
per second through the Ovo flows in-process, and on loopback the sandbox's balance inquiry rate as a share of a bare
endpoint served by the same HTTP server class in the same run (target: at least 40 %), with
signature verification and SQLite persistence on.

Hostile input, against a sandbox server in its own process: the peak memory one 1 MB and one
20 MB request add to it (target: at most 20 MB each; the 20 MB one is refused unread), the
answer time of a normal request while 200 idle connections are held, next to the same request
with none held, and while 500 clients trickle their requests a byte every half second (slowloris:
they hold descriptors, never workers; target: p99 under 100 ms), with how many stayed held.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx


class _Bare:
    """An endpoint that answers at once: what the server itself costs, without the sandbox."""

    body = b'{"responseCode":"2001100","responseMessage":"Successful"}'

    def handle(self, request: Any) -> Any:
        from ovo_nb.sandbox import SandboxResponse

        return SandboxResponse(200, self.body, {"Content-Type": "application/json"})


SERVER = """
import sys
from pathlib import Path
from ovo_nb.sandbox import SandboxServer, open_sandbox
sandbox, _ = open_sandbox(":memory:", folder=Path(sys.argv[1]))
server = SandboxServer(sandbox, workers=16).start()
print(server.url, flush=True)
sys.stdin.read()
server.stop()
"""


def peak_kib(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def hostile(folder: Path, balance: Any) -> dict[str, float]:
    """Memory added by big bodies, and latency under 200 idle connections, in a separate server process."""
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(folder / "home" / "sandbox")], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    figures: dict[str, float] = {}
    try:
        with httpx.Client(timeout=30) as client:
            client.get(f"{url}/_sandbox/clock")
            for label, size in (("1 MB", 1_000_000), ("20 MB", 20_000_000)):
                before = peak_kib(process.pid)
                answer = client.post(f"{url}/OVOSNAP/v2.0/balance-inquiry", content=b"{" + b" " * (size - 2) + b"}",
                                     headers={"Content-Type": "application/json"})
                figures[f"peak memory added by one {label} request (MB)"] = (peak_kib(process.pid) - before) / 1024
                figures[f"HTTP status of the {label} request"] = answer.status_code

            def median_ms(count: int = 200) -> float:
                times = []
                for _ in range(count):
                    started = time.perf_counter()
                    assert balance(client, url).status_code == 200
                    times.append((time.perf_counter() - started) * 1000)
                return statistics.median(times)

            figures["answer time, no idle connection held (median ms)"] = median_ms()
            host, port = url.removeprefix("http://").split(":")
            idle = [socket.create_connection((host, int(port))) for _ in range(200)]
            try:
                time.sleep(0.5)
                figures["answer time, 200 idle connections held (median ms)"] = median_ms()
            finally:
                for sock in idle:
                    sock.close()
            figures.update(trickle(host, int(port), lambda: balance(client, url)))
    finally:
        process.stdin.close()  # type: ignore[union-attr]
        process.wait(timeout=10)
    return figures


TRICKLE_HEAD = (b"POST /OVOSNAP/v2.0/balance-inquiry HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 2\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n{}")


def unanswered(sock: socket.socket) -> bool:
    """Open, and nothing came back yet (a slow client is answered 408 only at its request deadline)."""
    sock.setblocking(False)
    try:
        sock.recv(1)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


@contextlib.contextmanager
def trickling(host: str, port: int, connections: int, head: bytes = TRICKLE_HEAD,
              every: float = 0.5) -> Iterator[list[socket.socket]]:
    """``connections`` clients sending ``head`` one byte per ``every`` seconds each (slowloris), while inside."""
    held = [socket.create_connection((host, port)) for _ in range(connections)]
    stop = threading.Event()

    def drip() -> None:
        for position in range(len(head)):
            for sock in held:
                with contextlib.suppress(OSError):
                    sock.send(head[position:position + 1])
            if stop.wait(every):
                return

    dripping = threading.Thread(target=drip)
    dripping.start()
    try:
        yield held
    finally:
        stop.set()
        dripping.join()
        for sock in held:
            sock.close()


def trickle(host: str, port: int, request: Any, connections: int = 500) -> dict[str, float]:
    """Normal requests while ``connections`` clients send a request a byte at a time (slowloris)."""
    with trickling(host, port, connections) as held:
        time.sleep(0.5)
        times = []
        until = time.perf_counter() + 3.0
        while time.perf_counter() < until:
            started = time.perf_counter()
            assert request().status_code == 200
            times.append((time.perf_counter() - started) * 1000)
        still = sum(unanswered(sock) for sock in held)
    times.sort()
    return {f"trickling connections still held at the end (of {connections})": still,
            f"answer time, {connections} trickling held (median ms)": statistics.median(times),
            f"answer time, {connections} trickling held (p99 ms, target < 100)":
                times[min(len(times) - 1, int(len(times) * 0.99))],
            f"answer time, {connections} trickling held (max ms)": times[-1]}


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
    assert ovo.environment is not None and isinstance(ovo.environment.transport, SandboxTransport)
    sandbox = ovo.environment.transport.sandbox  # the in-process sandbox itself
    direct = httpx.Client(transport=SandboxTransport(sandbox))  # no client-side logging: the sandbox alone
    inprocess_balance = rate(lambda: direct.send(builder.build("balance_inquiry", {}, token=access)), args.seconds)
    assert ovo.sandbox is not None
    ovo.sandbox.update_customer(phone, cash="999999999999.00")

    def flow() -> None:
        payment = ovo.pay(phone, "1000.00")
        ovo.refund(payment.partner_reference_no, "1000.00")

    inprocess_flow = rate(flow, args.seconds)

    bare = SandboxServer(_Bare()).start()  # type: ignore[arg-type]
    bare_url = bare.url
    with SandboxServer(sandbox) as server:
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
    bare.stop()

    def balance(client: httpx.Client, url: str) -> httpx.Response:
        request = dataclasses.replace(builder, base_url=url).build("lookup", query={"phone": phone})
        return client.send(request)

    figures = hostile(folder, balance)
    print(f"{'figure':<58} {'value':>12}")
    print(f"{'in-process balance inquiry (requests/s)':<58} {inprocess_balance:>12.0f}")
    print(f"{'in-process pay+refund through Ovo flows (flows/s)':<58} {inprocess_flow:>12.1f}")
    print(f"{'loopback bare endpoint, same server class (requests/s)':<58} {bare_rate:>12.0f}")
    print(f"{'loopback sandbox balance inquiry (requests/s)':<58} {sandbox_rate:>12.0f}")
    print(f"{'loopback sandbox / bare (target >= 0.40)':<58} {sandbox_rate / bare_rate:>12.2f}")
    for label, value in figures.items():
        print(f"{label:<58} {value:>12.1f}")


if __name__ == "__main__":
    main()
