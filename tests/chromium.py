"""The system's Chromium for the browser tests: where it is, how it is started, screenshots.

Playwright drives Debian's ``/usr/bin/chromium`` headless; no browser is ever downloaded. The
``browser`` fixture (tests/conftest.py) launches it once per test module.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
NEEDS_CHROMIUM = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (.ci/run installs Debian's chromium)"),
    pytest.mark.timeout(300),
]
"""A browser test module's ``pytestmark``."""
SHOTS = Path(__file__).resolve().parent.parent / "outputs" / "screenshots"


def shot(page: Any, name: str) -> None:
    """A screenshot of the whole page into ``outputs/screenshots/``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
