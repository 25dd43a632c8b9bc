"""How a notebook ended, said by the notebook itself: passed, failed, waiting for a person, or skipped.

The last cell of every notebook shows its outcome as a card and, beside it, a small JSON record
under its own MIME type. The record travels inside the executed notebook, so ``ovo-nb run``, its
summary and its JUnit report read the same verdict the analyst saw, with the profile and base
URL the notebook's calls went to. Waiting is never passed: a run that stopped for a customer's
webview step says so, with what to add to resume.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import Profile
from .errors import NotebookSkipped
from .views import Card

__all__ = ["OUTCOME_MIME", "STATES", "NotebookOutcome", "finish_notebook"]

OUTCOME_MIME = "application/vnd.ovo-nb.outcome+json"
STATES = ("passed", "failed", "waiting", "skipped")
"""Every way a notebook can end; only ``passed`` is green."""
_CARD_STATUS = {"passed": "done", "failed": "refused", "waiting": "waiting", "skipped": "skipped"}


@dataclass(frozen=True)
class NotebookOutcome:
    """A notebook's verdict and where its calls went."""

    state: str
    detail: str = ""
    profile: str = ""
    """The profile its calls used; empty when it called no server (key setup, reconciling two files)."""
    base_url: str = ""
    resume: str = ""
    """For ``waiting``: the parameter to give when running it again (``callback_url``)."""
    resume_within: str = ""
    """For ``waiting``: how long the customer's step stays open, in words."""
    webview_file: str = ""
    """For ``waiting``: the 0600 file in the state folder holding the full webview URL (never in outputs)."""

    def card(self) -> Card:
        where = f"; calls went to {self.profile} ({self.base_url})" if self.profile else ""
        return Card("Outcome", _CARD_STATUS[self.state], f"{self.state}: {self.detail}{where}")

    def _ipython_display_(self) -> None:
        """Nothing: the outcome was shown when it was recorded (a cell ending in it shows no repr)."""

    def __repr__(self) -> str:
        return self.card().text()

    def show(self) -> None:
        """The card for people and the record for ``ovo-nb run``, as one cell output."""
        card = self.card()
        bundle = {OUTCOME_MIME: dataclasses.asdict(self), "text/html": card.html(), "text/plain": card.text()}
        try:
            from IPython.display import display
        except ImportError:  # plain Python: the card as text
            print(card.text())
            return
        display(bundle, raw=True)  # type: ignore[no-untyped-call]

    @classmethod
    def from_notebook(cls, notebook: Mapping[str, Any]) -> NotebookOutcome | None:
        """The last outcome an executed notebook recorded, or ``None`` when it recorded none."""
        found = None
        for cell in notebook.get("cells", []):
            for output in cell.get("outputs", []):
                record = output.get("data", {}).get(OUTCOME_MIME)
                if isinstance(record, str):
                    record = json.loads(record)
                if isinstance(record, dict) and record.get("state") in STATES:
                    known = {f.name for f in dataclasses.fields(cls)}
                    found = cls(**{k: str(v) for k, v in record.items() if k in known})
        return found


def where(profile: Profile | None) -> tuple[str, str]:
    """The profile name and base URL a notebook's calls went to (the in-process sandbox has no socket)."""
    if profile is None:
        return "", ""
    return profile.name, "in-process" if profile.in_process else profile.base_url


def finish_notebook(state: str, detail: str, *, profile: Profile | None = None, resume: str = "",
                    resume_within: str = "", webview_file: str = "") -> NotebookOutcome:
    """Show how this notebook ended; ``failed`` and ``skipped`` also raise, so execution stops at this
    cell (:class:`~ovo_nb.errors.NotebookSkipped` for a skip, which the runner reports as skipped).

    ``profile`` is the one the notebook's calls used (``None``: it called no server).
    """
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, not {state!r}")
    name, base_url = where(profile)
    outcome = NotebookOutcome(state, detail, name, base_url, resume, resume_within, webview_file)
    outcome.show()
    if state == "failed":
        raise AssertionError(detail)
    if state == "skipped":
        raise NotebookSkipped(detail)
    return outcome
