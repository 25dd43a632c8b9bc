"""Reconciliation on a schedule: a crontab, a systemd service and timer, a GitHub Actions workflow.

:data:`SCHEDULE_FILES` maps where each file goes in a partner's project to its text: ``ovo-nb init``
writes them (README shows the same text). Each runs ``ovo-nb reconcile`` for the day or month that just
ended, in Jakarta days, writes the reports, and fails (exit 1) when a category other than matched
and cut-off has rows, so cron mails, systemd marks the unit failed and CI turns red.
"""

from __future__ import annotations

__all__ = ["SCHEDULE_FILES"]

CRONTAB = r"""# ovo-nb reconciliation (crontab -e). Exit 1 when something needs a person: cron mails the lines.
CRON_TZ=Asia/Jakarta
MAILTO=finance@example.com
# every morning: yesterday, from the partner ledger and OVO's settlement files
15 6 * * *  cd /srv/shop && .venv/bin/ovo-nb reconcile ledger "exports/ovo/settlement-*.csv" --period "$(date -d yesterday +\%F)" --out "outputs/reconcile/$(date -d yesterday +\%F)" --fail-on any
# the monthly close, on the 2nd: last month, counterparts booked across its edge matched as cut_off
30 6 2 * *  cd /srv/shop && .venv/bin/ovo-nb reconcile ledger "exports/ovo/settlement-*.csv" --period "$(date -d 'last month' +\%Y-\%m)" --out "outputs/reconcile/$(date -d 'last month' +\%Y-\%m)" --fail-on any
"""

SERVICE = """# /etc/systemd/system/ovo-nb-reconcile.service: last month's close (started by the timer)
[Unit]
Description=OVO monthly close: reconcile last month's payments and refunds

[Service]
Type=oneshot
User=shop
WorkingDirectory=/srv/shop
Environment=TZ=Asia/Jakarta
ExecStart=/bin/sh -c '.venv/bin/ovo-nb reconcile ledger "exports/ovo/settlement-*.csv" --period "$(date -d "last month" +%%Y-%%m)" --out "outputs/reconcile/$(date -d "last month" +%%Y-%%m)" --fail-on any'
"""

TIMER = """# /etc/systemd/system/ovo-nb-reconcile.timer: systemctl enable --now ovo-nb-reconcile.timer
[Unit]
Description=OVO monthly close on the 2nd of each month

[Timer]
OnCalendar=*-*-02 06:30:00 Asia/Jakarta
Persistent=true

[Install]
WantedBy=timers.target
"""

WORKFLOW = """# .github/workflows/ovo-reconcile.yml: the monthly close in CI; the job fails when something needs a person
name: OVO monthly close
on:
  schedule:
    - cron: "30 23 1 * *"  # 06:30 on the 2nd in Jakarta (GitHub's cron runs in UTC)
  workflow_dispatch:
    inputs:
      period:
        description: "Jakarta month or day, e.g. 2026-11 (default: last month)"
        required: false
jobs:
  reconcile:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: python -m pip install -r requirements.txt  # the ovo-nb this project pins (ovo-nb init writes it)
      # The month's files: the partner ledger export (ovo-nb ledger export) and OVO's settlement files,
      # committed under exports/ or fetched here from where they are kept (a bucket, SFTP, a warehouse).
      - name: Reconcile
        env:
          PERIOD: ${{ inputs.period }}
        run: |
          PERIOD="${PERIOD:-$(TZ=Asia/Jakarta date -d 'last month' +%Y-%m)}"
          ovo-nb reconcile "exports/partner-ledger-*.csv" "exports/ovo-settlement-*.csv" --period "$PERIOD" --out "reconciliation/$PERIOD" --fail-on any
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: reconciliation
          path: reconciliation/
"""

SCHEDULE_FILES: dict[str, str] = {
    "schedules/crontab": CRONTAB,
    "schedules/ovo-nb-reconcile.service": SERVICE,
    "schedules/ovo-nb-reconcile.timer": TIMER,
    ".github/workflows/ovo-reconcile.yml": WORKFLOW,
}
"""Each schedule's path in a partner's project, and its text."""
