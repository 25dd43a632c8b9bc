"""Client overhead: OvoClient against the in-process sandbox vs bare httpx POSTs, same transport, same run.

Run: .venv/bin/python bench/client_overhead.py [--calls 500]

The baseline sends N balance inquiries whose headers and bodies were signed beforehand
(each with its own X-EXTERNAL-ID), through a plain httpx.Client on the same sandbox
transport. The client run makes the same N calls through OvoClient.balance_inquiry,
which builds, signs, logs (SQLite) and parses each one. Target: ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import os
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
    prepared = [ovo.client.builder.build("balance_inquiry", {"partnerReferenceNo": f"BARE-{i}"}, token=token)
                for i in range(args.calls)]
    bare = httpx.Client(transport=transport)
    started = time.perf_counter()
    for request in prepared:
        assert bare.post(str(request.url), content=request.content, headers=request.headers).status_code == 200
    bare_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(args.calls):
        ovo.client.balance_inquiry(token, partner_reference_no=f"CLIENT-{i}")
    client_seconds = time.perf_counter() - started
    print(f"{'figure':<52} {'value':>10}")
    print(f"{'bare httpx POST, presigned (ms/call)':<52} {bare_seconds / args.calls * 1000:>10.3f}")
    print(f"{'OvoClient.balance_inquiry (ms/call)':<52} {client_seconds / args.calls * 1000:>10.3f}")
    print(f"{'client / bare (target <= 1.3)':<52} {client_seconds / bare_seconds:>10.2f}")


if __name__ == "__main__":
    main()
