"""Client overhead: OvoClient against the in-process sandbox vs bare httpx POSTs, same transport, same run.

Run: .venv/bin/python bench/client_overhead.py [--calls 500]

The baseline sends balance inquiries whose headers and bodies were signed beforehand
(each with its own X-EXTERNAL-ID), through a plain httpx.Client on the same sandbox
transport. The client run makes the same calls through OvoClient.balance_inquiry, which
builds, signs, logs (SQLite, the request committed before it is sent) and parses each one.
The two alternate in rounds and the medians are compared, so a busy moment of the machine
does not land on one side only. Target: ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import httpx


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    os.environ["OVO_NB_HOME"] = tempfile.mkdtemp()
    from ovo_nb.flows import Ovo

    ovo = Ovo.open()
    ovo.bind("081234567890")
    token = ovo.access_token("081234567890")
    transport = ovo.client.http._transport.transport  # type: ignore[attr-defined]  # the sandbox under the logger
    rounds, per_round = 5, max(args.calls // 5, 1)
    prepared = [ovo.client.builder.build("balance_inquiry", {"partnerReferenceNo": f"BARE-{i}"}, token=token)
                for i in range(rounds * per_round)]
    bare = httpx.Client(transport=transport)
    bare_times, client_times = [], []
    for r in range(rounds):
        started = time.perf_counter()
        for request in prepared[r * per_round:(r + 1) * per_round]:
            assert bare.post(str(request.url), content=request.content, headers=request.headers).status_code == 200
        bare_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(per_round):
            ovo.client.balance_inquiry(token, partner_reference_no=f"CLIENT-{r}-{i}")
        client_times.append(time.perf_counter() - started)
    bare_seconds, client_seconds = statistics.median(bare_times), statistics.median(client_times)
    args.calls = per_round
    print(f"{'figure':<52} {'value':>10}")
    print(f"{'bare httpx POST, presigned (ms/call)':<52} {bare_seconds / args.calls * 1000:>10.3f}")
    print(f"{'OvoClient.balance_inquiry (ms/call)':<52} {client_seconds / args.calls * 1000:>10.3f}")
    print(f"{'client / bare (target <= 1.3)':<52} {client_seconds / bare_seconds:>10.2f}")


if __name__ == "__main__":
    main()
