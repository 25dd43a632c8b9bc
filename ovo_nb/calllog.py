"""The call log: every HTTP exchange, durable in SQLite, redacted by default.

OVO asks partners to keep a backend log of every API call, and the BI functional test
is filled from it. Each exchange is one row, inserted and committed when the request
leaves (so a crash mid-call still leaves the request on record) and completed when the
answer, or the error, comes back.

What is stored in clear is redacted: bearer tokens, token fields in bodies and token
query parameters are cut to a short prefix plus a fingerprint (so one token can be
followed across calls), and registered secrets (the client secret) are scrubbed from
everything. The unredacted exchange is kept sealed with a :class:`~ovo_nb.secretbox.SecretBox`
when the log has one, and only ``reveal=True`` opens it: the explicit switch BI evidence
needs. Client secrets and private keys are never recorded, sealed or not.

Attach it to any ``httpx.Client``: ``httpx.Client(transport=log.wrap(transport))`` (records
timeouts and dropped connections too) or ``log.attach(client)`` (event hooks).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import re
import shlex
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from ._files import close_sqlite, new_run_id, open_sqlite
from .errors import OvoNbError, ValidationError
from .secretbox import SecretBox
from .snap import JAKARTA, Clock, SystemClock

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Call", "CallLog", "LoggingTransport", "as_curl", "mask_msisdn", "mask_token", "new_run_id", "redact_url"]

SENSITIVE_HEADERS = frozenset({"authorization", "authorization-customer"})
"""Headers whose bearer token is masked."""
SECRET_HEADERS = frozenset({"x-client-secret", "private_key", "private-key", "cookie", "set-cookie"})
"""Headers never recorded, even sealed."""
TOKEN_FIELDS = frozenset(
    {"accesstoken", "refreshtoken", "linkagetoken", "singleusetoken", "authcode", "token", "code", "otp", "pin"}
)
"""Body keys and query parameters (compared case-insensitively) whose values are masked."""
SECRET_FIELDS = frozenset({"clientsecret", "client_secret", "privatekey", "private_key", "secret"})
"""Body keys never recorded, even sealed."""
PHONE_FIELDS = frozenset({"phone", "phoneno", "phonenumber", "msisdn"})
"""Body keys and query parameters holding a customer's phone: kept as ``0812****7890``."""

_SCENARIO: contextvars.ContextVar[str] = contextvars.ContextVar("ovo_nb_scenario", default="")
_SCENARIO_EXTENSION = "ovo_nb.scenario"
_SCRUBBED = "[secret]"


def mask_token(value: str) -> str:
    """``eyJhbGci…#3f9a1c``: a short prefix and a fingerprint, never the usable token."""
    if not value:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:6]
    return f"{value[:8] if len(value) > 16 else ''}…#{digest}"


@dataclass(frozen=True)
class Call:
    """One logged exchange, as stored (redacted unless revealed)."""

    id: int
    run_id: str
    scenario: str
    started_at: str
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    response_code: str | None = None
    response_message: str | None = None
    latency_ms: float | None = None
    error: str | None = None
    revealed: bool = False

    @property
    def path(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    @property
    def response_json(self) -> Any:
        """The response body parsed as JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.response_body)
        except ValueError:
            return None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    scenario TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    request_headers TEXT NOT NULL,
    request_body TEXT NOT NULL,
    status INTEGER,
    response_headers TEXT NOT NULL DEFAULT '{}',
    response_body TEXT NOT NULL DEFAULT '',
    response_code TEXT,
    response_message TEXT,
    latency_ms REAL,
    error TEXT,
    sealed BLOB,
    sealed_response BLOB
);
CREATE INDEX IF NOT EXISTS calls_run ON calls (run_id);
"""


class CallLog:
    """A durable, redacting log of HTTP exchanges in one SQLite file (or in memory)."""

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        run_id: str | None = None,
        box: SecretBox | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.path = str(path)
        self.clock = clock or SystemClock()
        self.run_id = run_id or new_run_id(self.clock)
        self._box = box
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        # fast commits: every row survives a crash of this process (the promise here)
        self._db = open_sqlite(self.path, _SCHEMA, fast_commits=True)

    @classmethod
    def open(cls, path: str | Path, *, run_id: str | None = None) -> CallLog:
        """A file-backed log that also seals unredacted exchanges with the default vault key."""
        return cls(path, run_id=run_id, box=SecretBox.default())

    def close(self) -> None:
        """Checkpoint and close the database (a copied ``.sqlite`` then holds everything)."""
        with self._lock:
            close_sqlite(self._db)

    def __enter__(self) -> CallLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CallLog(path={self.path!r}, run_id={self.run_id!r})"

    # ----------------------------------------------------------------- secrets and scenarios

    def add_secret(self, value: str) -> None:
        """Register a value (the client secret) to scrub from every record, sealed or not."""
        if value:
            self._secrets.add(value)

    @contextlib.contextmanager
    def scenario(self, label: str) -> Iterator[None]:
        """Label every call made inside the ``with`` block, e.g. ``"binding: wrong signature"``.

        The block's label wins over a per-request label (``request.extensions["ovo_nb.scenario"]``).
        """
        reset = _SCENARIO.set(label)
        try:
            yield
        finally:
            _SCENARIO.reset(reset)

    # ----------------------------------------------------------------- recording

    def _scrub(self, text: str) -> str:
        for value in self._secrets:
            text = text.replace(value, _SCRUBBED)
        return text

    def _record_start(self, request: httpx.Request) -> int:
        scenario = str(_SCENARIO.get() or request.extensions.get(_SCENARIO_EXTENSION) or "")
        headers = _header_dict(request.headers)
        body = _decode(request.content)
        url = str(request.url)
        stored_url, stored_headers, stored_body = (
            self._scrub(redact_url(url)), _redact_headers(headers), self._scrub(_redact_body(body)))
        sealed = self._seal_hidden("request", headers, stored_headers, body, stored_body, url, stored_url)
        row = (
            self.run_id,
            scenario,
            self.clock.now().astimezone(JAKARTA).isoformat(timespec="milliseconds"),
            request.method,
            stored_url,
            json.dumps(stored_headers, ensure_ascii=False),
            stored_body,
            sealed,
        )
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO calls (run_id, scenario, started_at, method, url, request_headers, request_body,"
                " sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        assert cursor.lastrowid is not None
        request.extensions["ovo_nb.call_id"] = cursor.lastrowid  # so a caller can name the call on errors
        return cursor.lastrowid

    def _record_end(
        self, call_id: int, response: httpx.Response | None, latency_ms: float, error: BaseException | None = None
    ) -> None:
        status, headers, body, code, message = None, {}, "", None, None
        if response is not None:
            status, headers, body = response.status_code, _header_dict(response.headers), _decode(response.content)
            code, message = _snap_code(body)
        stored_headers, stored_body = _redact_headers(headers), self._scrub(_redact_body(body))
        sealed = self._seal_hidden("response", headers, stored_headers, body, stored_body)
        with self._lock:
            self._db.execute(
                "UPDATE calls SET status = ?, response_headers = ?, response_body = ?, response_code = ?,"
                " response_message = ?, latency_ms = ?, error = ?, sealed_response = ? WHERE id = ?",
                (
                    status,
                    json.dumps(stored_headers, ensure_ascii=False),
                    stored_body,
                    code,
                    message,
                    round(latency_ms, 3),
                    None if error is None else self._scrub(f"{type(error).__name__}: {error}"),
                    sealed,
                    call_id,
                ),
            )

    def _seal_hidden(self, side: str, headers: dict[str, str], stored_headers: dict[str, str], body: str,
                     stored_body: str, url: str | None = None, stored_url: str | None = None) -> bytes | None:
        """Seal only what redaction hid (``b""`` when nothing was); ``None`` without a box.

        Secret headers and fields, and registered secrets, are left out even here.
        """
        if self._box is None:
            return None
        hidden: dict[str, Any] = {}
        changed = {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS and stored_headers.get(k) != v}
        if changed:
            hidden[f"{side}_headers"] = changed
        if stored_body != body:
            hidden[f"{side}_body"] = _drop_secret_fields(body)
        if url is not None and stored_url != url:
            hidden["url"] = url
        if not hidden:
            return b""
        return self._box.seal(self._scrub(json.dumps(hidden, ensure_ascii=False)).encode())

    def send(self, transport: httpx.BaseTransport, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through ``transport`` and record the exchange, errors included."""
        call_id = self._record_start(request)
        started = time.perf_counter()
        try:
            response = transport.handle_request(request)
            response.read()
        except BaseException as exc:
            self._record_end(call_id, None, (time.perf_counter() - started) * 1000, exc)
            raise
        self._record_end(call_id, response, (time.perf_counter() - started) * 1000)
        response.extensions = {**response.extensions, "ovo_nb.call_id": call_id}
        return response

    def wrap(self, transport: httpx.BaseTransport | None = None) -> LoggingTransport:
        """A transport that logs every exchange through ``transport`` (default: httpx's own)."""
        return LoggingTransport(transport or httpx.HTTPTransport(), self)

    def attach(self, client: httpx.Client) -> httpx.Client:
        """Log an existing client's exchanges through its event hooks; returns the client.

        Hooks only see answers: a timeout leaves the request recorded with no status.
        Prefer :meth:`wrap` when you create the client.
        """
        pending: dict[int, tuple[int, float]] = {}

        def on_request(request: httpx.Request) -> None:
            pending[id(request)] = (self._record_start(request), time.perf_counter())

        def on_response(response: httpx.Response) -> None:
            response.read()
            call_id, started = pending.pop(id(response.request), (None, 0.0))
            if call_id is not None:
                self._record_end(call_id, response, (time.perf_counter() - started) * 1000)

        client.event_hooks["request"].append(on_request)
        client.event_hooks["response"].append(on_response)
        return client

    # ----------------------------------------------------------------- reading

    def calls(self, run_id: str | None = None, *, all_runs: bool = False, reveal: bool = False,
              after: int = 0) -> list[Call]:
        """The calls of this run (or ``run_id``, or every run), oldest first; ``after`` an id, the newer ones."""
        query = "SELECT * FROM calls WHERE id > ?"
        args: list[int | str] = [after]
        if not all_runs:
            query, args = query + " AND run_id = ?", [after, run_id or self.run_id]
        with self._lock:
            cursor = self._db.execute(query + " ORDER BY id", args)
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return [self._to_call(row, reveal) for row in rows]

    def runs(self) -> list[str]:
        """Every run id in the log, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT run_id FROM calls GROUP BY run_id ORDER BY MIN(id)").fetchall()
        return [row[0] for row in rows]

    def require_run(self, run_id: str) -> None:
        """Refuse, in one line naming the latest runs, a run id this log does not hold."""
        runs = self.runs()
        if run_id not in runs:
            known = ", ".join(runs[-5:]) or "none yet"
            raise ValidationError(f"No run {run_id!r} in {self.path}; the latest runs: {known}.")

    def get(self, call_id: int, *, reveal: bool = False) -> Call:
        """One call by id, whatever its run."""
        with self._lock:
            cursor = self._db.execute("SELECT * FROM calls WHERE id = ?", (call_id,))
            names = [d[0] for d in cursor.description]
            row = cursor.fetchone()
        if row is None:
            with self._lock:
                low, high = self._db.execute("SELECT min(id), max(id) FROM calls").fetchone()
            held = f"it holds calls {low} to {high}" if low is not None else "it holds no call yet"
            raise OvoNbError(f"No call with id {call_id} in {self.path}; {held}.")
        return self._to_call(dict(zip(names, row, strict=True)), reveal)

    def _to_call(self, row: dict[str, Any], reveal: bool) -> Call:
        sealed, sealed_response = row.pop("sealed"), row.pop("sealed_response")
        values = {
            **row,
            "scenario": row["scenario"] or "",
            "request_headers": json.loads(row["request_headers"]),
            "response_headers": json.loads(row["response_headers"]),
        }
        if reveal:
            if sealed is None or self._box is None:
                raise OvoNbError(
                    f"Call {row['id']} was logged without a secret box, so only its redacted form exists. "
                    "Record with CallLog.open(...) (or box=SecretBox.default()) to keep full headers for BI evidence."
                )
            for blob in (sealed, sealed_response):
                hidden = json.loads(self._box.open(blob)) if blob else {}
                for key, value in hidden.items():
                    values[key] = {**values[key], **value} if key.endswith("_headers") else value
            values["revealed"] = True
        return Call(**values)

    def to_frame(
        self, run_id: str | None = None, *, all_runs: bool = False, full: bool = False, reveal: bool = False
    ) -> pd.DataFrame:
        """The calls as a pandas DataFrame, one row per exchange.

        The default columns are the ones to scan (scenario, method, path, status, SNAP
        response code and message, latency); ``full=True`` adds headers and bodies, and
        ``reveal=True`` shows them unredacted (explicit switch for BI evidence).
        """
        import pandas as pd

        calls = self.calls(run_id, all_runs=all_runs, reveal=reveal)
        summary = [
            "id", "run_id", "scenario", "started_at", "method", "path", "status",
            "response_code", "response_message", "latency_ms", "error",
        ]
        detail = ["url", "request_headers", "request_body", "response_headers", "response_body"]
        columns = summary + (detail if full else [])
        records = [{c: getattr(call, c) for c in columns} for call in calls]
        frame = pd.DataFrame.from_records(records, columns=columns)
        return frame.set_index("id")


class LoggingTransport(httpx.BaseTransport):
    """An httpx transport that records every exchange of the transport it wraps."""

    def __init__(self, transport: httpx.BaseTransport, log: CallLog) -> None:
        self.transport = transport
        self.log = log

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.log.send(self.transport, request)

    def close(self) -> None:
        self.transport.close()


def as_curl(call: Call) -> str:
    """The request of ``call`` as a cURL command with all its headers.

    Shows what was stored: masked tokens unless the call was read with ``reveal=True``.
    """
    lines = [f"curl -X {call.method} {shlex.quote(call.url)}"]
    for name, value in call.request_headers.items():
        if name.lower() not in {"host", "content-length"}:
            lines.append(f"  -H {shlex.quote(f'{name}: {value}')}")
    if call.request_body:
        lines.append(f"  --data-raw {shlex.quote(call.request_body)}")
    return " \\\n".join(lines)


# --------------------------------------------------------------------------- redaction


def _header_dict(headers: httpx.Headers) -> dict[str, str]:
    """Headers as sent, with their original spelling (``X-TIMESTAMP``, not ``x-timestamp``)."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in headers.raw}


def _decode(content: bytes) -> str:
    return content.decode("utf-8", errors="replace")


def _snap_code(body: str) -> tuple[str | None, str | None]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(parsed, dict):
        return None, None
    code, message = parsed.get("responseCode"), parsed.get("responseMessage")
    return (str(code) if code is not None else None, str(message) if message is not None else None)


def _redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    redacted = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in SECRET_HEADERS:
            continue
        if lower in SENSITIVE_HEADERS:
            scheme, _, token = value.partition(" ")
            value = f"{scheme} {mask_token(token)}" if token else mask_token(value)
        redacted[name] = value
    return redacted


def _drop_secret_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}


def _walk(value: Any, on_key: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            replaced = on_key(str(key), item)
            if replaced is not _DROP:
                out[key] = _walk(replaced, on_key) if replaced is item else replaced
        return out
    if isinstance(value, list):
        return [_walk(item, on_key) for item in value]
    return value


_DROP = object()


_WATCHED_KEYS = re.compile(
    '"(?:' + "|".join(sorted(re.escape(k) for k in TOKEN_FIELDS | SECRET_FIELDS | PHONE_FIELDS)) + ')"\\s*:',
    re.IGNORECASE)


def _rewrite_json(body: str, on_key: Any) -> str:
    """Apply ``on_key`` to every key of a JSON body; non-JSON text is returned unchanged."""
    if not body.strip() or not _WATCHED_KEYS.search(body):
        return body  # fast path: no key that could need hiding appears anywhere
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    rewritten = _walk(parsed, on_key)
    if rewritten == parsed:
        return body  # keep the exact bytes that were sent when nothing needed hiding
    return json.dumps(rewritten, separators=(",", ":"), ensure_ascii=False)


def _redact_body(body: str) -> str:
    def on_key(key: str, item: Any) -> Any:
        lower = key.lower()
        if lower in SECRET_FIELDS:
            return _DROP
        if lower in TOKEN_FIELDS and isinstance(item, str):
            return mask_token(item)
        if lower in PHONE_FIELDS and isinstance(item, str):
            return mask_msisdn(item)
        return item

    return _redact_token_urls(_rewrite_json(body, on_key))


def mask_msisdn(phone: str) -> str:
    """A phone number as logs show it: the first and last four digits, ``0812****7890``."""
    return phone[:4] + "****" + phone[-4:] if len(phone) >= 10 else "****"


def _drop_secret_fields(body: str) -> str:
    return _rewrite_json(body, lambda key, item: _DROP if key.lower() in SECRET_FIELDS else item)


_URL_IN_TEXT = re.compile(r"https?://[^\s\"'<>]+")


def redact_url(url: str) -> str:
    """``url`` with token-like query parameters masked (``token``, ``code``, ``authCode``...), the authCode
    inside a webview callback's ``response`` JSON masked, and phone numbers kept as ``0812****7890``."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, True)
    if not any(k.lower() in TOKEN_FIELDS | PHONE_FIELDS or k == "response" for k, _ in pairs):
        return url
    query = urlencode([(k, _redact_value(k, v)) for k, v in pairs])
    query = query.replace("%E2%80%A6", "…").replace("%23", "#").replace("%2A", "*")  # readable masks
    return urlunsplit(parts._replace(query=query))


def _redact_value(key: str, value: str) -> str:
    if key.lower() in TOKEN_FIELDS:
        return mask_token(value)
    if key.lower() in PHONE_FIELDS:
        return mask_msisdn(value)
    if key == "response":  # a webview callback: {"authCode": ..., ...}
        try:
            answer = json.loads(value)
        except ValueError:
            return value
        if isinstance(answer, dict) and isinstance(answer.get("authCode"), str) and answer["authCode"]:
            return json.dumps({**answer, "authCode": mask_token(answer["authCode"])}, separators=(",", ":"))
    return value


def _redact_token_urls(text: str) -> str:
    """Mask token query parameters of URLs embedded in a body (webview links)."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)

