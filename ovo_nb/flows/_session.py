"""What every service of :class:`~ovo_nb.flows.Ovo` shares, and the one retry helper they use."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from ..client import OvoClient
from ..config import Profile
from ..errors import OvoNbError, StateFileError, WebviewError
from ..ledger import PartnerLedger
from ..snap import JAKARTA
from ..tokens import TokenVault
from ..webview import WebviewCompleter

__all__ = ["RETRY_ATTEMPTS", "RETRY_BACKOFF_SECONDS", "Session", "left_open", "retrying"]

RETRY_ATTEMPTS = 3
RETRY_BACKOFF_SECONDS = 0.5
T = TypeVar("T")


@dataclass
class Session:
    """One partner's client, token vault, partner ledger, webview and clock, shared by the services."""

    client: OvoClient
    vault: TokenVault
    ledger: PartnerLedger
    destination: str
    complete_webview: WebviewCompleter | None
    sleep: Callable[[float], None]

    @property
    def profile(self) -> Profile:
        return self.client.profile

    def now(self) -> datetime:
        return self.client.clock.now().astimezone(JAKARTA)

    def registered(self) -> tuple[str, ...] | None:
        """The profile's registered callback URLs, the only destinations OVO redirects to."""
        return self.profile.callback_urls or None

    def headless(self, url: str, *codes: str) -> str:
        """The customer's webview step typed by the sandbox; against OVO a person must do it."""
        if self.complete_webview is None:
            raise WebviewError(
                "This profile has no headless webview: open the URL from start_*() in a browser and pass the "
                "callback URL to finish_*()."
            )
        return self.complete_webview(url, *codes)


def retrying(session: Session, call: Callable[[int], T], *, between: Callable[[OvoNbError], T | None] | None = None,
             exhausted: Callable[[OvoNbError], OvoNbError] | None = None) -> T:
    """``call(attempt)`` until it answers, at most :data:`RETRY_ATTEMPTS` times.

    An error whose ``should_retry`` is false is raised at once. After a retryable one,
    ``between(error)`` runs (a status inquiry, a ledger note): a result it returns ends the
    retries, an error it raises ends them too; then the helper waits and tries again. When the
    attempts run out, ``exhausted(last_error)`` is raised, or the last error itself.
    """
    last: OvoNbError | None = None
    for attempt in range(1, RETRY_ATTEMPTS + 1):
        try:
            return call(attempt)
        except OvoNbError as exc:
            if not exc.should_retry:
                raise
            last = exc
        if between is not None:
            settled = between(last)
            if settled is not None:
                return settled
        if attempt < RETRY_ATTEMPTS:
            session.sleep(RETRY_BACKOFF_SECONDS * attempt)
    assert last is not None
    if exhausted is None:
        raise last
    raise exhausted(last) from last


@contextlib.contextmanager
def left_open(what: str) -> Iterator[None]:
    """Money may have moved at OVO while the disk refused to record it (read-only, full): say how it settles.

    The ledger row written before the first call stays open (``CREATED``, ``AWAITING_PIN``,
    ``REQUESTED``), and ``resolve_unknown()`` asks OVO once the disk takes writes again.
    """
    try:
        yield
    except StateFileError as exc:
        raise StateFileError(f"{exc} {what} is left open in the ledger: once the disk is fixed, resolve_unknown() "
                             "asks OVO and records the outcome.") from None
