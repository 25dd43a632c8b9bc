"""A team's integration on a real PostgreSQL (the session's throw-away cluster): two processes sharing one vault,
the team soak, `ovo-nb calls --follow` across writers, `ovo-nb state migrate` and `ovo-nb doctor`'s database lines.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bench.shared_soak import run_shared_soak
from ovo_nb.calllog import CallLog
from ovo_nb.cli import main
from ovo_nb.errors import ValidationError
from ovo_nb.flows import Ovo
from ovo_nb.secretbox import SecretBox
from ovo_nb.storage import with_schema
from ovo_nb.workbench import CallFilter, follow

ROOT = Path(__file__).resolve().parent.parent
RICH = "081234567890"


def test_the_team_soak_two_processes_one_vault(pg_cluster: Any, tmp_path: Path) -> None:
    url = pg_cluster.new_database("soak")
    report = run_shared_soak(tmp_path, url, processes=2, customers=2, epochs=3, payments=6)
    print("\n".join(report.lines()))
    assert report.ok, report.problems
    assert report.payments_paid == 2 * 3 * 6 and report.refunds == 2 * 3 * 2
    assert report.invariants["exactly one refresh per customer per expiry"]
    assert report.invariants["no payment debited twice"] and report.invariants["partner's paid total equals OVO's debits"]


WRITER = """
import sys, httpx
from ovo_nb.calllog import CallLog
log = CallLog(sys.argv[1], run_id=sys.argv[2])
answer = lambda request: httpx.Response(200, json={"responseCode": "2001100"})
with httpx.Client(transport=log.wrap(httpx.MockTransport(answer))) as client:
    for i in range(60):
        client.post("https://api.example/v1.0/balance-inquiry", json={"n": i})
log.close()
"""


def test_calls_follow_sees_every_writer_of_a_shared_log(pg_url: str) -> None:
    CallLog(pg_url).close()
    seen: list[int] = []
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, pg_url, name], cwd=ROOT) for name in ("alice", "bob")]
    done = threading.Event()

    def stop() -> bool:
        return done.is_set()

    with CallLog(pg_url) as log:
        follower = threading.Thread(target=lambda: seen.extend(
            c.id for c in follow(log, CallFilter(None, False, None, None, 50), interval=0.01, stop=stop)))
        follower.start()
        assert [w.wait(timeout=120) for w in writers] == [0, 0]
        time.sleep(0.3)  # a last poll after the writers are done
        done.set()
        follower.join(timeout=30)
        every = [c.id for c in log.calls(all_runs=True)]
        assert set(log.runs()) == {"alice", "bob"}
    assert len(every) == 120 == len(set(every))
    assert sorted(seen) == every and len(seen) == len(set(seen))  # each shown once, when its answer came


def _sandbox_state(home: Path) -> None:
    """One person's SQLite state for the sandbox profile: a bound customer, a payment, a refund."""
    with Ovo.open() as ovo:
        ovo.bind(RICH)
        paid = ovo.pay(RICH, "15000")
        ovo.refund(paid.partner_reference_no, "5000")
        ovo.pay(RICH, "2500")


def test_migrate_copies_the_files_once_and_checks_counts_and_sums(
        pg_cluster: Any, isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _sandbox_state(isolated_home)
    url = pg_cluster.new_database("moving_in")
    team_key = tmp_path / "team.key"
    assert main(["state", "new-key", str(team_key)]) == 0
    assert team_key.stat().st_mode & 0o777 == 0o600
    made = team_key.read_bytes()
    assert main(["state", "new-key", str(team_key)]) == 2  # never replaced: what it sealed would be lost
    assert "a vault key is never replaced" in capsys.readouterr().err and team_key.read_bytes() == made
    monkeypatch.setenv("OVO_NB_VAULT_KEY_FILE", str(team_key))
    assert main(["state", "migrate", "--to", url]) == 0
    first = capsys.readouterr().out
    assert pg_cluster.password not in first
    lines = {line.split()[0]: line for line in first.splitlines() if "in the files" in line}
    assert set(lines) == {"calls", "tokens", "customers", "events", "payments", "refunds", "history"}
    assert all(line.endswith("checked") for line in lines.values()), first
    assert "IDR 17,500.00 here and 17,500.00 there" in lines["payments"]
    assert "IDR 5,000.00 here and 5,000.00 there" in lines["refunds"]
    assert main(["state", "migrate", "--to", url]) == 0
    again = capsys.readouterr().out
    assert all(" 0 copied now" in line for line in again.splitlines() if "in the files" in line), again
    monkeypatch.setenv("OVO_NB_STATE_URL", url)
    with Ovo.open() as ovo:  # the team's database: the customer is bound there, the tokens open with the team key
        assert ovo.is_bound(RICH)
        assert len(ovo.ledger.payments()) == 2
        ovo.pay(RICH, "1000")
        assert ovo.client.call_log.count() > 10
    monkeypatch.delenv("OVO_NB_VAULT_KEY_FILE")
    assert main(["state", "migrate", "--to", url]) == 2  # the home's own key cannot open the team's vault
    assert "sealed with another vault key than this one: set OVO_NB_VAULT_KEY_FILE" in capsys.readouterr().err


def test_a_missing_team_key_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVO_NB_VAULT_KEY_FILE", str(tmp_path / "nowhere.key"))
    with pytest.raises(Exception, match="does not exist. Ask your team for its copy") as refused:
        SecretBox.default()
    assert "ovo-nb state new-key" in str(refused.value)


def test_doctor_checks_the_database_reach_version_and_privileges(
        pg_cluster: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url = pg_cluster.new_database("doctored")
    monkeypatch.setenv("OVO_NB_STATE_URL", url)
    with Ovo.open() as ovo:
        ovo.bind(RICH)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "ok   database: postgresql://ovo@127.0.0.1:" in out and "(schema ovo_nb_sandbox) answers" in out
    assert "ok   schema version: calls v2, vault v2, ledger v2" in out
    assert "ok   database privileges: read and write on every table" in out
    assert "ok   vault key: opens the tokens sealed in postgresql://" in out
    assert pg_cluster.password not in out
    monkeypatch.setenv("OVO_NB_VAULT_KEY", SecretBox.generate_key())  # a teammate who set another key
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL vault key: The tokens in postgresql://" in out and "sealed with another vault key" in out
    assert "network" in out and "not checked" in out.split("FAIL vault key", 1)[1]  # no call made with that key
    monkeypatch.delenv("OVO_NB_VAULT_KEY")
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE ROLE teammate LOGIN PASSWORD 'pw-of-teammate'")
        conn.execute("GRANT USAGE ON SCHEMA ovo_nb_sandbox TO teammate")
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA ovo_nb_sandbox TO teammate")
    monkeypatch.setenv("OVO_NB_STATE_URL", url.replace(f"ovo:{pg_cluster.password}", "teammate:pw-of-teammate"))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL database privileges: missing INSERT on calls, UPDATE on calls" in out and "pw-of-teammate" not in out
    assert "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA ovo_nb_sandbox" in out
    monkeypatch.setenv("OVO_NB_STATE_URL", url.replace(pg_cluster.password, "not-the-password"))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL database: Cannot reach postgresql://ovo@127.0.0.1:" in out and "not-the-password" not in out
    assert "password authentication failed" in out
    assert main(["doctor", "--offline"]) == 0
    assert "database" not in capsys.readouterr().out


def test_a_project_file_may_not_hold_a_database_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ovo_nb.config import load_profile

    (tmp_path / "ovo-nb.toml").write_text(
        '[profiles.stage]\nclient_id = "c"\nmerchant_id = "m"\n'
        'state_url = "postgresql://team:hunter2@db.example/ovo?sslmode=require"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OVO_NB_STAGE_CLIENT_SECRET", "s")
    with pytest.raises(ValidationError) as refused:
        load_profile("stage")
    assert "state_url under [profiles.stage]" in str(refused.value) and "carries a password" in str(refused.value)
    assert "hunter2" not in str(refused.value) and "OVO_NB_STAGE_STATE_URL" in str(refused.value)
    (tmp_path / "ovo-nb.toml").write_text(
        '[profiles.stage]\nclient_id = "c"\nmerchant_id = "m"\n'
        'state_url = "postgresql://team@db.example/ovo?sslmode=require"\n')
    profile = load_profile("stage")
    assert profile.state_url and "sslmode=require" in str(profile.state_location("vault"))
    assert profile.state_where == "postgresql://team@db.example/ovo?sslmode=require (schema ovo_nb_stage)"
    assert "hunter2" not in repr(profile)
    monkeypatch.setenv("OVO_NB_STAGE_STATE_URL", "postgresql://team:hunter2@db.example/ovo")
    profile = load_profile("stage")
    assert "hunter2" not in repr(profile) and "hunter2" not in str(profile.summary())
    assert with_schema(profile.state_url, "x") != profile.state_url
    monkeypatch.setenv("OVO_NB_STAGE_STATE_URL", "mysql://db.example/ovo")
    with pytest.raises(ValidationError, match="must be a postgresql:// URL"):
        load_profile("stage")


def test_drills_and_evidence_runs_keep_their_state_to_themselves(pg_url: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """06's drill and 07's scenarios make up customers and backdated payments: never in the team's database."""
    from ovo_nb.evidence import evidence_session
    from ovo_nb.traffic import drill_session, simulate_period

    monkeypatch.setenv("OVO_NB_SANDBOX_STATE_URL", pg_url)
    ovo, clock = drill_session(tmp_path / "drill", days=1)
    with ovo:
        drill = simulate_period(ovo, clock, days=1, payments_per_day=2, discrepancies=False)
        assert drill.payments and ovo.profile.state_where == str(tmp_path / "drill" / "state")
    with evidence_session(tmp_path / "evidence") as ovo:
        ovo.bind(RICH)
        assert ovo.profile.state_location("ledger") == tmp_path / "evidence" / "state" / "ledger.sqlite"
    with Ovo.open() as team:  # the profile itself still uses the team's database, which holds none of it
        assert team.profile.state_url and team.ledger.payments() == [] and team.client.call_log.count() == 0


def test_the_ledger_commands_read_the_teams_ledger(pg_url: str, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OVO_NB_SANDBOX_STATE_URL", pg_url)
    with Ovo.open() as ovo:  # a teammate pays; the ledger row lands in the team's database
        ovo.bind(RICH)
        ovo.pay(RICH, "15000")
        today = ovo.ledger.now()[:10]
    assert main(["ledger", "export", "--period", today]) == 0
    exported = capsys.readouterr().out
    assert "15000.00" in exported and "PAYMENT" in exported
