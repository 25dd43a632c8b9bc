"""Client overhead: OvoClient against the in-process sandbox vs bare httpx POSTs, same transport, same run,
with the call log on SQLite (one person) and on PostgreSQL over loopback (a team).

Run: .venv/bin/python -m bench.client_overhead [--calls 500] [--state-url postgresql://...]

The baseline sends balance inquiries whose headers and bodies were signed beforehand
(each with its own X-EXTERNAL-ID), through a plain httpx.Client on the same sandbox
transport. The client run makes the same calls through OvoClient.balance_inquiry, which
builds, signs, logs (the request committed before it is sent, the answer after) and parses
each one. The two alternate in many short rounds (25 calls each) and the median of the rounds' ratios is
reported, so a busy moment of the machine, or the log's background checkpoint, lands on both sides alike
(long rounds swung the figure from 1.2 to 2.0 between runs of an idle machine). Then the same again
with the call log, vault and ledger in PostgreSQL (``--state-url``, default a throw-away cluster on a loopback port
that waits for the disk at commit as a real server does, bench/pgcluster.py; skipped with the reason when none can
be had). Target on SQLite: ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Iterator

import httpx

PHONE = "081234567890"


def measure(calls: int) -> tuple[float, float, float]:
    """(bare ms per call, client ms per call, the median of the rounds' client/bare ratios), from short
    alternating rounds, for the state ovo-nb is set to."""
    from ovo_nb.flows import Ovo

    with Ovo.open() as ovo:
        ovo.bind(PHONE)
        token = ovo.access_token(PHONE)
        transport = ovo.client.http._transport.transport  # type: ignore[attr-defined]  # the sandbox under the logger
        per_round = 25
        rounds = max(calls // per_round, 4)
        prepared = [ovo.client.builder.build("balance_inquiry", {"partnerReferenceNo": f"BARE-{i}"}, token=token)
                    for i in range(rounds * per_round)]
        for i in range(20):  # warm both paths
            ovo.client.balance_inquiry(token, partner_reference_no=f"WARM-{i}")
        bare_times, client_times = [], []
        with httpx.Client(transport=transport) as bare:
            for r in range(rounds):
                started = time.perf_counter()
                for request in prepared[r * per_round:(r + 1) * per_round]:
                    assert bare.post(str(request.url), content=request.content,
                                     headers=request.headers).status_code == 200
                bare_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                for i in range(per_round):
                    ovo.client.balance_inquiry(token, partner_reference_no=f"CLIENT-{r}-{i}")
                client_times.append(time.perf_counter() - started)
    ratios = [c / b for b, c in zip(bare_times, client_times, strict=True)]
    return (statistics.median(bare_times) / per_round * 1000, statistics.median(client_times) / per_round * 1000,
            statistics.median(ratios))


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str | None]:
    """``url``, else a throw-away cluster's; ``None`` (after saying why) when none can be had."""
    if url:
        yield url
        return
    from bench.pgcluster import throwaway_cluster, unavailable

    reason = unavailable()
    if reason:
        print(f"PostgreSQL skipped: {reason}")
        yield None
        return
    with throwaway_cluster(durable=True) as cluster:  # commits wait for the disk, as a real server's do
        yield cluster.url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--state-url", default=None, help="the PostgreSQL to log into (default: a throw-away one)")
    args = parser.parse_args()
    os.environ["OVO_NB_HOME"] = tempfile.mkdtemp()
    os.environ.pop("OVO_NB_STATE_URL", None)
    rows = []
    bare, client, ratio = measure(args.calls)
    rows += [("bare httpx POST, presigned (ms/call)", bare), ("OvoClient.balance_inquiry, SQLite (ms/call)", client),
             ("client / bare, SQLite (target <= 1.3)", ratio)]
    with database(args.state_url) as url:
        if url:
            os.environ["OVO_NB_HOME"] = tempfile.mkdtemp()
            os.environ["OVO_NB_STATE_URL"] = url
            bare, client, ratio = measure(args.calls)
            rows += [("bare httpx POST, presigned (ms/call)", bare),
                     ("OvoClient.balance_inquiry, PostgreSQL loopback (ms/call)", client),
                     ("client / bare, PostgreSQL loopback", ratio)]
    print(f"{'figure':<60} {'value':>10}")
    for label, value in rows:
        print(f"{label:<60} {value:>10.3f}" if "ms/call" in label else f"{label:<60} {value:>10.2f}")


if __name__ == "__main__":
    main()
