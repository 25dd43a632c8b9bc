"""The sandbox as a real HTTP server on loopback, its admin API, its CLI, and malformed input."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_harness import RICH, Harness

from ovo_nb.keys import CredentialPair, decrypt_credentials, generate_private_key, public_key_pem
from ovo_nb.sandbox import SandboxServer, SandboxTransport, apply_config
from ovo_nb.snap import ENDPOINTS


@pytest.fixture
def served(h: Harness) -> Iterator[tuple[Harness, SandboxServer]]:
    with SandboxServer(h.sandbox) as server:
        h.http = httpx.Client(timeout=5)
        h.builder = h.make_builder(base_url=server.url)
        yield h, server
        h.http.close()


def test_a_whole_flow_over_real_http(served: tuple[Harness, SandboxServer]) -> None:
    h, server = served
    answer = h.start_binding(RICH)
    assert answer["redirectUrl"] == f"{server.url}/cellblockui/partner/activation"
    url = h.webview_url(answer, answer["linkageToken"])
    assert "OTP" in h.http.get(url).text
    assert "4 attempts left" in h.http.post(url, data={"code": "0000"}).text
    assert "Security PIN" in h.http.post(url, data={"code": "7890"}).text
    landed = h.http.post(url, data={"code": "123456"})
    assert landed.status_code == 303
    code = json.loads(httpx.URL(landed.headers["Location"]).params["response"])["authCode"]
    tokens = h.call("b2b2c_token", {"grantType": "AUTHORIZATION_CODE", "authCode": code},
                    token=answer["linkageToken"]).json()
    assert tokens["responseCode"] == "2007400"
    from sandbox_harness import Bound

    bound = Bound(RICH, tokens["accessToken"], tokens["refreshToken"])
    assert h.pay(bound, "INV-1").json()["responseCode"] == "2005400"
    assert h.status(bound, "INV-1").json()["latestTransactionStatus"] == "00"


def test_server_faults_drop_and_time_out_for_real(served: tuple[Harness, SandboxServer]) -> None:
    h, _ = served
    bound = h.bind(RICH)
    h.sandbox.add_fault("balance_inquiry", "drop_before")
    with pytest.raises(httpx.RemoteProtocolError):
        h.call("balance_inquiry", {}, token=bound.access)
    h.sandbox.add_fault("balance_inquiry", "timeout_after_commit", delay_seconds=1.0)
    with httpx.Client(timeout=httpx.Timeout(5, read=0.3)) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.send(h.builder.build("balance_inquiry", {}, token=bound.access))
    h.sandbox.add_fault("balance_inquiry", "slow", delay_seconds=0.2)
    assert h.call("balance_inquiry", {}, token=bound.access).json()["responseCode"] == "2001100"


@pytest.mark.rule("ONB-CREDENTIALS", "LINK-CLOSED")
def test_admin_api_over_http(served: tuple[Harness, SandboxServer]) -> None:
    h, server = served
    admin = f"{server.url}/_sandbox"
    assert "faultKinds" in h.http.get(admin).json()
    key = generate_private_key()
    registered = h.http.post(f"{admin}/partners", json={
        "publicKey": public_key_pem(key, "x509"), "name": "Toko Kopi",
        "callbackUrls": ["https://kopi.example/ovo"], "dailyRefundLimit": "1000000"})
    assert registered.status_code == 201
    body = registered.json()
    pair = CredentialPair(base64.b64decode(body["keyBinEnc"]), base64.b64decode(body["credFileEnc"]))
    credentials = decrypt_credentials(pair, key)
    assert credentials.client_id == body["clientId"] and credentials.extra["merchant_id"] == body["merchantId"]
    assert "client_secret" not in h.http.get(f"{admin}/partners/{body['clientId']}").text
    from ovo_nb.client import SnapRequestBuilder

    kopi = SnapRequestBuilder(credentials.client_id, credentials.client_secret, key, base_url=server.url)
    assert h.http.send(kopi.build("b2b_token", {"grantType": "client_credentials"})).json()["responseCode"] == "2007300"
    created = h.http.post(f"{admin}/customers", json={"phone": "+62 813 1111 2222", "cash": "5000", "pin": "654321"})
    assert created.status_code == 201 and created.json()["phone"] == "081311112222"
    patched = h.http.patch(f"{admin}/customers/081311112222", json={"cash": "7500.50", "status": "CLOSED"})
    assert patched.json()["cash"] == "7500.50" and patched.json()["status"] == "CLOSED"
    assert h.http.post(f"{admin}/clock/advance", json={"seconds": 60}).json()["offsetSeconds"] == 60
    assert h.http.post(f"{admin}/faults", json={"api": "lookup", "kind": "error_500"}).status_code == 201
    assert h.http.delete(f"{admin}/faults").json() == {"ok": True}
    bad = h.http.post(f"{admin}/faults", json={"api": "lookup", "kind": "meteor"})
    assert bad.status_code == 400 and "not one of" in bad.json()["error"]
    assert h.http.post(f"{admin}/customers", json={"phone": "12"}).status_code == 400
    assert h.http.get(f"{admin}/nothing").status_code == 404
    csv = h.http.get(f"{admin}/settlement.csv")
    assert csv.headers["Content-Type"].startswith("text/csv") and csv.text.lstrip("\ufeff").startswith("type,")
    bound = h.bind(RICH)
    first = h.call("debit_payment", h.payment_body("INV-1"), token=bound.access).json()
    done = h.http.post(f"{admin}/webview/complete", json={"url": h.webview_url(first, bound.access), "code": "123456"})
    assert done.json()["ok"] and done.json()["response"]["authCode"]
    page = h.http.get(f"{admin}/callback", params={"response": json.dumps(done.json()["response"]), "state": "x1"})
    assert "authCode" in page.text and "state=x1" in page.text


def test_admin_api_refuses_other_machines(h: Harness) -> None:
    remote = httpx.Client(transport=SandboxTransport(h.sandbox, client_ip="203.0.113.5"))
    response = remote.get("http://ovo-sandbox.local/_sandbox")
    assert response.status_code == 403 and "loopback" in response.json()["error"]


def test_config_file_seeds_partners_and_customers(h: Harness, tmp_path: Path) -> None:
    key = generate_private_key()
    (tmp_path / "acme.pem").write_text(public_key_pem(key, "pkcs1"))
    (tmp_path / "sandbox.toml").write_text(
        '[[partners]]\nclient_id = "oamerchantacme"\npublic_key_file = "acme.pem"\n'
        'callback_urls = ["https://acme.example/ovo"]\nproduction = true\nip_whitelist = ["203.0.113.10"]\n\n'
        '[[customers]]\nphone = "081311112222"\ncash = "250000.00"\npin = "654321"\n')
    created = apply_config(h.sandbox, tmp_path / "sandbox.toml", tmp_path)
    assert created[0].startswith("partner oamerchantacme (credentials in") and created[1] == "customer 081311112222"
    assert (tmp_path / "credentials-oamerchantacme.toml").stat().st_mode & 0o777 == 0o600
    assert h.sandbox.customer_view("081311112222")["cash"] == "250000.00"


def test_cli_serves_and_prints_its_links(tmp_path: Path) -> None:
    env = {**os.environ, "OVO_NB_HOME": str(tmp_path)}
    process = subprocess.Popen([sys.executable, "-m", "ovo_nb.cli", "sandbox", "--port", "0"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(14)]
        base = lines[0].split()[-1]
        assert lines[0].startswith("OVO sandbox listening on http://127.0.0.1:")
        payment = next(line for line in lines if "payment (PIN 123456)" in line).split(": ", 1)[1].strip()
        landed = httpx.post(payment, data={"code": "123456"})
        assert landed.status_code == 303 and landed.headers["Location"].startswith(f"{base}/_sandbox/callback?")
        assert "Back at the merchant" in httpx.get(landed.headers["Location"]).text
        assert (tmp_path / "sandbox" / "credentials.toml").exists()
    finally:
        process.terminate()
        process.wait(timeout=10)


# ----------------------------------------------------------------------------- malformed input

header_values = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["", "Bearer", "Bearer x", "2026-13-45T99"]))
bodies = st.one_of(
    st.binary(max_size=200),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                 lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=5),
                 max_leaves=10).map(lambda v: json.dumps(v).encode()),
    st.just(b"x" * 100_000),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(api=st.sampled_from(sorted(ENDPOINTS)), body=bodies, timestamp=header_values, signature=header_values,
       partner=header_values, authorization=header_values, keep_valid_signature=st.booleans())
def test_malformed_requests_get_a_snap_error_never_a_500(
    h: Harness, api: str, body: bytes, timestamp: str | None, signature: str | None, partner: str | None,
    authorization: str | None, keep_valid_signature: bool,
) -> None:
    request = h.builder.build(api, {"partnerReferenceNo": "FUZZ"}, query={"phone": "0812"})
    headers = {k: v for k, v in request.headers.items() if k != "content-length"}
    for name, value in (("x-timestamp", timestamp), ("x-signature", signature), ("x-partner-id", partner),
                        ("authorization", authorization)):
        if name == "x-signature" and keep_valid_signature:
            continue
        if value is None:
            headers.pop(name, None)
        elif value.isascii() and value.isprintable() and value.strip() == value:
            headers[name] = value
    response = h.send(httpx.Request(request.method, request.url, headers=headers, content=body))
    assert response.status_code < 500, response.text
    answer = response.json()
    assert len(answer["responseCode"]) == 7 and answer["responseCode"][:3] == str(response.status_code)
    assert "Traceback" not in response.text


# ----------------------------------------------------------------------------- HTTP framing, over raw sockets


@pytest.fixture
def raw(h: Harness) -> Iterator[tuple[Harness, SandboxServer]]:
    with SandboxServer(h.sandbox, request_timeout=1.0, max_body=64 * 1024) as server:
        yield h, server


def exchange(server: SandboxServer, data: bytes, *, read_seconds: float = 3.0) -> tuple[int, dict[str, object]]:
    """Send raw bytes; the status and JSON body of the answer (0 and {} when the server just closed)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=read_seconds) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    if not answer:
        return 0, {}
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body or b"{}")


FRAMING = [
    (b"POST /OVOSNAP/v2.0/balance-inquiry HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    (b"POST /OVOSNAP/v2.0/balance-inquiry HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST /OVOSNAP/v2.0/balance-inquiry HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n{", 413),
    (b"POST /OVOSNAP/v2.0/balance-inquiry HTTP/1.1\r\nHost: x\r\n\r\n", 411),
    (b"HEAD /OVOSNAP/v2.0/balance-inquiry HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", 431),
    (b"this is not http\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
]


@pytest.mark.rule("HOSTILE-FRAMING")
@pytest.mark.parametrize(("data", "status"), FRAMING, ids=[str(s) + "-" + d[:12].decode(errors="replace")
                                                           for d, s in FRAMING])
def test_framing_errors_are_answered_in_snap_json(raw: tuple[Harness, SandboxServer], data: bytes,
                                                  status: int) -> None:
    _, server = raw
    got, body = exchange(server, data)
    assert got == status, body
    if status != 405 or not data.startswith(b"HEAD"):
        assert str(body["responseCode"]).startswith(str(status)) and len(str(body["responseCode"])) == 7


@pytest.mark.rule("HOSTILE-FRAMING", "HOSTILE-BODY")
def test_bodies_chunked_or_too_large(raw: tuple[Harness, SandboxServer]) -> None:
    h, server = raw
    bound = h.bind()
    request = h.make_builder(base_url=server.url).build("balance_inquiry", {"partnerReferenceNo": "C1"},
                                                        token=bound.access)
    head = f"POST {request.url.raw_path.decode()} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in request.headers.items() if k != "content-length")
    chunked = (head + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode() + (
        f"{len(request.content):x}\r\n".encode() + request.content + b"\r\n0\r\n\r\n")
    assert exchange(server, chunked)[1]["responseCode"] == "2001100"
    too_big = (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + b"8000\r\n" + b" " * 0x8000 + b"\r\n" * 1 + (
        b"8000\r\n" + b" " * 0x8000 + b"\r\n") * 2
    assert exchange(server, too_big)[0] == 413
    with httpx.Client(timeout=10) as client:  # a client that writes a body over the cap still reads the answer
        refused = client.post(f"{server.url}/OVOSNAP/v2.0/balance-inquiry", content=b"{" + b" " * 200_000 + b"}")
    assert refused.status_code == 413 and refused.json()["responseCode"] == "4130000"


@pytest.mark.rule("HOSTILE-SLOW")
def test_slow_and_idle_clients_cost_no_worker(raw: tuple[Harness, SandboxServer]) -> None:
    _, server = raw
    host, port = server.url.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(100)]
    slow = socket.create_connection((host, int(port)))
    slow.sendall(b"POST /OVOSNAP/v2.0/balance-inquiry HTTP/1.1\r\nHost: x\r\n")  # and never finishes
    try:
        started = time.monotonic()
        with httpx.Client(timeout=5) as client:
            for _ in range(20):
                assert client.get(f"{server.url}/_sandbox/clock").status_code == 200
        assert time.monotonic() - started < 5
        slow.settimeout(5)
        assert b"408" in slow.recv(4096).split(b"\r\n")[0]  # the request did not arrive in time
    finally:
        for sock in [*idle, slow]:
            sock.close()


@pytest.mark.rule("HOSTILE-FRAMING")
def test_keep_alive_and_pipelining(raw: tuple[Harness, SandboxServer]) -> None:
    _, server = raw
    host, port = server.url.removeprefix("http://").split(":")
    request = b"GET /_sandbox/clock HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request * 3)
        answers = b""
        while answers.count(b"HTTP/1.1 200") < 3:
            answers += sock.recv(65536)
    assert answers.count(b"HTTP/1.1 200") == 3


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD", b"OPTIONS", b"G\x00T", b""]),
       target=st.sampled_from([b"/", b"/OVOSNAP/v2.0/balance-inquiry", b"/_sandbox", b"*", b"/%zz", b""]),
       version=st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"HTTQ"]),
       headers=st.lists(st.tuples(st.binary(min_size=0, max_size=12), st.binary(max_size=30)), max_size=5),
       length=st.one_of(st.none(), st.sampled_from([b"0", b"5", b"-3", b"x", b"1 1", b"99999999999999999999"])),
       body=st.binary(max_size=64))
@pytest.mark.rule("HOSTILE-FRAMING")
def test_fuzzed_framing_gets_a_bounded_answer(raw: tuple[Harness, SandboxServer], method: bytes, target: bytes,
                                              version: bytes, headers: list[tuple[bytes, bytes]],
                                              length: bytes | None, body: bytes) -> None:
    _, server = raw
    lines = [method + b" " + target + b" " + version, b"Host: x", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    if length is not None:
        lines.append(b"Content-Length: " + length)
    started = time.monotonic()
    status, answer = exchange(server, b"\r\n".join(lines) + b"\r\n\r\n" + body)
    assert time.monotonic() - started < 3.5  # never a hang past the request timeout
    assert status == 0 or status < 500 or status == 503, answer
    if "responseCode" in answer:  # the admin API and the webview answer in their own shapes
        assert str(answer["responseCode"])[:3] == str(status)


FD_LIMITED_SERVER = """
import resource, sys, time
from pathlib import Path
from ovo_nb.sandbox import SandboxServer, open_sandbox
sandbox, _ = open_sandbox(":memory:", folder=Path(sys.argv[1]))
server = SandboxServer(sandbox).start()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
import os
used = len(os.listdir("/proc/self/fd"))
resource.setrlimit(resource.RLIMIT_NOFILE, (used + 8, hard))
print(server.url, flush=True)
time.sleep(30)
"""


@pytest.mark.rule("HOSTILE-SLOW")
def test_at_the_descriptor_limit_the_server_sheds_load_without_spinning(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", FD_LIMITED_SERVER, str(tmp_path)], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "OVO_NB_HOME": str(tmp_path)})
    try:
        assert process.stdout is not None
        host, port = process.stdout.readline().strip().removeprefix("http://").split(":")
        clients = {}
        for _ in range(200):  # all at once, as a crowd arrives
            sock = socket.create_connection((host, int(port)), timeout=5)
            clients[sock] = time.monotonic()
        answered: dict[socket.socket, float] = {}
        deadline = time.monotonic() + 3.0
        while len(answered) < len(clients) and time.monotonic() < deadline:
            ready, _, _ = select.select([s for s in clients if s not in answered], [], [], 0.1)
            for sock in ready:
                with contextlib.suppress(OSError):
                    assert b"503" in sock.recv(4096)[:12]
                answered[sock] = time.monotonic() - clients[sock]
        held = [sock for sock in clients if sock not in answered]
        assert len(held) <= 9  # accepted while descriptors lasted (8): they wait, idle, like keep-alive clients
        assert max(answered.values()) < 1.0, sorted(answered.values())[-5:]  # every other one: 503 within 1 s
        for sock in answered:
            sock.close()
        with open(f"/proc/{process.pid}/stat") as stat:
            before = sum(int(v) for v in stat.read().split(")")[1].split()[11:13])
        time.sleep(2.0)
        with open(f"/proc/{process.pid}/stat") as stat:
            after = sum(int(v) for v in stat.read().split(")")[1].split()[11:13])
        assert after - before < 100  # clock ticks in 2 s: far from a spinning core (about 200)
        for sock in held:
            sock.close()
        time.sleep(0.3)
        with httpx.Client(timeout=5) as client:  # and once they are gone, it serves again
            assert client.get(f"http://{host}:{port}/_sandbox/clock").status_code == 200
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.mark.rule("HOSTILE-SLOW")
def test_trickling_connections_cost_descriptors_not_workers(h: Harness) -> None:
    """500 clients sending a request a byte at a time hold no worker: a normal request is answered at once."""
    from bench.sandbox import trickling, unanswered

    with SandboxServer(h.sandbox, workers=4) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with trickling(host, int(port), 500, every=0.05) as held:
            time.sleep(0.3)
            slowest = 0.0
            with httpx.Client(timeout=5) as client:
                for _ in range(20):
                    started = time.monotonic()
                    assert client.get(f"{server.url}/_sandbox/clock").status_code == 200
                    slowest = max(slowest, time.monotonic() - started)
            assert slowest < 1.0, slowest  # the old server answered nothing until the trickle timed out (10 s)
            assert all(unanswered(sock) for sock in held)  # all 500 still held open, waiting


SMUGGLED = (b"POST /OVOSNAP/v2.0/balance-inquiry HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /_sandbox/customers/081234567890 HTTP/1.1\r\n"
            b"Host: x\r\n\r\n")


@pytest.mark.rule("HOSTILE-FRAMING")
def test_content_length_with_transfer_encoding_is_refused_and_the_connection_closed(
        raw: tuple[Harness, SandboxServer]) -> None:
    _, server = raw
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(SMUGGLED)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 400") and b"Connection: close" in answer
    assert answer.count(b"HTTP/1.1") == 1 and b"Rich Rina" not in answer  # the smuggled GET never ran
    assert b"4000000" in answer and b"RFC 9112" in answer


def test_urls_handed_out_come_from_the_base_url_never_from_host(served: tuple[Harness, SandboxServer]) -> None:
    h, server = served
    request = h.builder.build("account_binding", {"partnerReferenceNo": "B-HOST", "phoneNo": RICH,
                                                  "merchantId": h.partner.merchant_id})
    request.headers["Host"] = "evil.example"
    h.call("lookup", query={"phone": RICH})
    answer = h.http.send(request).json()
    assert answer["responseCode"] == "2000700", answer
    assert answer["redirectUrl"].startswith(f"{server.base_url}/") and "evil" not in json.dumps(answer)
    with SandboxServer(h.sandbox, base_url="http://sandbox.test:8765/") as named:
        assert named.base_url == "http://sandbox.test:8765"
        h.builder = h.make_builder(base_url=named.url)
        h.call("lookup", query={"phone": "081200000005"})
        bound = h.call("account_binding", {"partnerReferenceNo": "B-2", "phoneNo": "081200000005",
                                           "merchantId": h.partner.merchant_id}).json()
        assert bound["redirectUrl"].startswith("http://sandbox.test:8765/")


def test_the_admin_api_answers_ipv4_loopback_on_a_dual_stack_server(h: Harness) -> None:
    try:
        server = SandboxServer(h.sandbox, "::", 0)
    except OSError as exc:
        pytest.skip(f"no IPv6 on this machine ({exc.strerror})")
    with server:
        port = server.url.rsplit(":", 1)[1]
        assert server.base_url == f"http://[::1]:{port}"
        with httpx.Client(timeout=5) as client:
            answer = client.get(f"http://127.0.0.1:{port}/_sandbox/clock")  # arrives as ::ffff:127.0.0.1
            assert answer.status_code == 200 and "offsetSeconds" in answer.json()


@pytest.mark.rule("HOSTILE-SLOW")
def test_bodies_held_at_once_are_bounded(h: Harness) -> None:
    with SandboxServer(h.sandbox, max_body=64 * 1024, max_buffered=100 * 1024) as server:
        host, port = server.url.removeprefix("http://").split(":")
        head = b"POST /OVOSNAP/v2.0/balance-inquiry HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n"
        first, second = (socket.create_connection((host, int(port)), timeout=5) for _ in range(2))
        try:
            first.sendall(head + b"{" + b" " * 50_000)  # held, waiting for the rest of its body
            time.sleep(0.2)
            second.sendall(head + b"{" + b" " * 59_998)
            assert second.recv(4096).startswith(b"HTTP/1.1 503")
        finally:
            first.close()
            second.close()
        with httpx.Client(timeout=5) as client:  # what the refused and abandoned bodies held is given back
            assert client.post(f"{server.url}/_sandbox/clock/advance", json={"seconds": 1}).status_code == 200


def test_cli_says_in_one_line_when_it_cannot_listen(tmp_path: Path) -> None:
    env = {**os.environ, "OVO_NB_HOME": str(tmp_path)}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for args in (["--port", str(port)], ["--host", "no-such-host.invalid", "--port", "0"], ["--port", "70000"]):
            done = subprocess.run([sys.executable, "-m", "ovo_nb.cli", "sandbox", "--no-demo", *args], env=env,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 2, done.stderr
            assert done.stderr.startswith("ovo-nb: cannot listen on") and "Traceback" not in done.stderr
            assert len(done.stderr.strip().splitlines()) == 1


def test_cli_refuses_a_base_url_that_is_not_http(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "ovo_nb.cli", "sandbox", "--port", "0", "--base-url",
                           "javascript:alert(1)"], env={**os.environ, "OVO_NB_HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("ovo-nb: --base-url 'javascript:alert(1)' is not an http(s)")
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.rule("LENIENT")
def test_cli_prints_the_rule_catalogue() -> None:
    from ovo_nb.sandbox.rules import RULES

    done = subprocess.run([sys.executable, "-m", "ovo_nb.cli", "sandbox", "--rules"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and f"{len(RULES)} rules" in done.stdout
    assert all(f"{r.id}" in done.stdout for r in RULES)


def test_the_sandbox_state_is_private_and_a_damaged_one_is_named(tmp_path: Path) -> None:
    from ovo_nb.errors import StateFileError
    from ovo_nb.sandbox import open_sandbox

    folder = tmp_path / "fresh" / "sandbox"
    sandbox, _ = open_sandbox(folder=folder)
    assert (folder / "state.sqlite").stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700 and folder.parent.stat().st_mode & 0o777 == 0o700
    sandbox.store.close()
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateFileError, match="damaged.sqlite is not an ovo-nb state file"):
        open_sandbox(damaged, folder=folder)
    assert damaged.read_bytes() == b"this is not a database" * 100  # untouched
