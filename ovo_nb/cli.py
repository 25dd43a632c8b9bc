"""The ``ovo-nb`` command line."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import OvoNbError, ValidationError
from .storage import not_yet_made
from .testbed import SANDBOX_PORT, SANDBOX_SERVER_URL

if TYPE_CHECKING:
    from .ledger import PartnerLedger

__all__ = ["main"]


def _run(args: argparse.Namespace) -> int:
    from .config import load_profile
    from .outcome import where
    from .project import find_project
    from .runner import coerce_parameters, find_notebooks, requested_profile, run_notebooks, write_junit

    project = find_project()
    chosen = find_notebooks(args.notebooks, project.notebooks)
    parameters = coerce_parameters(dict(args.parameter or []), chosen)
    total = len(chosen)
    started = iter(range(1, total + 1))
    if args.jobs < 1:
        raise ValidationError(f"--jobs {args.jobs}: give 1 or more.")
    asked = requested_profile(parameters, args.profile)
    settings = load_profile(asked, complete=False)  # a wrong name, type or a secret in ovo-nb.toml: stop here
    print(f"notebooks: {project.describe()}", flush=True)
    try:
        name, base_url = where(load_profile(asked))
        print(f"profile:   {name} ({base_url})", flush=True)
    except OvoNbError as exc:  # not configured yet (key setup is how it gets configured): the notebooks say more
        print(f"profile:   {settings.name} (not configured yet: {str(exc).split('. ')[0]})", flush=True)
    result = run_notebooks(
        args.notebooks, parameters=parameters, output_root=args.output, cell_timeout=args.timeout, jobs=args.jobs,
        project=project, profile=args.profile,
        on_start=lambda path: print(f"[{next(started)}/{total}] running {path.name} ...", flush=True),
    )
    for notebook in result.notebooks:
        print(f"{notebook.label} {notebook.notebook:<28} {notebook.seconds:6.1f}s  {notebook.where}"
              + (f"\n     {notebook.error}" if notebook.error else ""))
        if notebook.state == "waiting":
            _print_waiting(notebook.webview_file, notebook.resume_exact)
    print(f"{result.tally()}; outputs in {result.run_dir} (summary.html, calls.csv, the executed notebooks)")
    if args.junit:
        print(f"JUnit report: {write_junit(result, args.junit)}")
    return result.exit_code


def _print_waiting(webview_file: str, command: str) -> None:
    """What the customer opens and how to go on: to the terminal only (the URL carries the customer's token)."""
    try:
        url = Path(webview_file).read_text().strip()
    except OSError:
        url = ""
    if url:
        print(f"     open on the customer's phone (it carries the customer's token; also in {webview_file}, "
              f"readable by you only):\n     {url}")
    print(f"     then resume with:\n     {command}")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox import TEST_CUSTOMERS, SandboxServer, apply_config, demo_links, open_sandbox
    from .sandbox.rules import catalogue_text

    if args.rules:
        from .project import packaged_file

        print(catalogue_text(str(packaged_file("docs", "FIDELITY.md"))))
        return 0
    if args.action == "reset":
        return _sandbox_reset(args.state, force=args.force)
    if args.max_body < 1024:
        raise ValidationError(f"--max-body {args.max_body} is too small: SNAP bodies need at least 1024 bytes.")
    if args.base_url is not None and (urlsplit(args.base_url).scheme not in ("http", "https")
                                      or not urlsplit(args.base_url).hostname):
        raise ValidationError(f"--base-url {args.base_url!r} is not an http(s) URL with a host, e.g. "
                              "http://sandbox.test:8765.")
    if args.state not in (None, ":memory:") and not Path(args.state).expanduser().parent.is_dir():
        raise ValidationError(f"--state {args.state}: the folder {Path(args.state).expanduser().parent} does not "
                              "exist; create it, or choose a file in a folder that does.")
    sandbox, partner = open_sandbox(args.state)
    for line in apply_config(sandbox, args.config) if args.config else []:
        print(f"config: {line}")
    try:
        server = SandboxServer(sandbox, args.host, args.port, max_body=args.max_body, base_url=args.base_url,
                               log=None if args.quiet else lambda line: print(line, flush=True))
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValidationError(f"cannot listen on {args.host}:{args.port} ({reason}); choose another --port "
                              "(0 picks a free one) or --host.") from None
    print(f"OVO sandbox listening on {server.url}", flush=True)
    print(f"  state:           {sandbox.store.path}")
    print(f"  default partner: {partner.client_id} (credentials: {partner.credentials_path})")
    if server.base_url != server.url:
        print(f"  handing out:     {server.base_url} (webview links and redirects)")
    print(f"  admin API:       {server.base_url}/_sandbox (loopback only)")
    print("  test customers:  " + "\n                   ".join(
        f"{c['phone']}  {c['name']}: {c['purpose']}" for c in TEST_CUSTOMERS))
    if not args.no_demo:
        print("Open in a browser:")
        for label, url in demo_links(sandbox, partner, server.base_url).items():
            print(f"  {label}: {url}")
    print("Ctrl+C (or SIGTERM) stops the sandbox; its state stays in the state file.", flush=True)
    on_main = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGTERM, _interrupt) if on_main else None  # a service manager's stop, as Ctrl+C
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        sandbox.store.close()
        if on_main:
            signal.signal(signal.SIGTERM, before)
    return 0


def _sandbox_reset(state: str | None, *, force: bool) -> int:
    """A fresh sandbox: its state, and the sandbox profile's vault and ledger that refer to it, removed; the
    default partner's key and credentials and the call log kept."""
    from ._files import held_open
    from .config import load_profile
    from .testbed import sandbox_dir

    if state == ":memory:":
        raise ValidationError("An in-memory sandbox has nothing to reset: each one starts fresh.")
    client = load_profile("sandbox")
    sandbox_state = Path(state) if state else sandbox_dir() / "state.sqlite"
    files = [sandbox_state, client.state_file("vault"), client.state_file("ledger")]
    busy = [f for f in files if held_open(f)]
    if busy and not force:
        raise ValidationError(f"{busy[0]} is open in another process: stop `ovo-nb sandbox` and the notebooks using "
                              "the sandbox, then run again (--force resets anyway).")
    removed = [p for f in files for p in (f, Path(f"{f}-wal"), Path(f"{f}-shm")) if p.exists()]
    for path in removed:
        path.unlink()
    for path in removed:
        print(f"removed {path}")
    print("The sandbox starts fresh (test customers, no bindings, no payments); the default partner's key and "
          f"credentials in {sandbox_dir()} and the call log in {client.state_file('calls')} are kept.")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from .calllog import CallLog
    from .doctor import check_profile, explain_call
    from .environments import open_environment

    env = open_environment(args.profile)
    try:
        if args.call is not None:
            with CallLog.open(env.profile.state_location("calls")) as log:
                print(explain_call(log, args.call, env.profile))
            return 0
        checks = check_profile(env.profile, transport=env.transport, offline=args.offline)
    finally:
        env.close()
    where = "offline: nothing sent" if args.offline else f"against {env.profile.base_url}"
    print(f"profile {env.profile.name} ({where})")
    for check in checks:
        print(f"{check.label} {check.name}: {check.detail}" + (f"\n     -> {check.fix}" if check.fix
                                                                and not check.ok else ""))
    failed = [c for c in checks if c.checked and not c.ok]
    if [c for c in failed if c.name != "network"]:
        return 1
    if failed or any(not c.checked for c in checks):
        print("The server was not reached: the credentials are unproven.")
        return 3
    return 0


def _calls(args: argparse.Namespace) -> int:
    from ._files import write_private_file
    from .calllog import CallLog
    from .config import load_profile
    from .workbench import (
        CallFilter,
        call_page,
        calls_json,
        calls_table,
        follow,
        parse_since,
        select_calls,
        side_by_side,
    )

    profile = load_profile(args.profile, complete=False)
    path = profile.state_location("calls")
    if not_yet_made(path):
        raise ValidationError(f"No call log at {path} yet: run a notebook or a flow against the {profile.name} "
                              "profile first.")
    if args.show and (len(args.show) != 2 or args.show[0] != "show" or not args.show[1].isdigit()):
        raise ValidationError(f"expected 'ovo-nb calls show ID' with a numeric call id, got {' '.join(args.show)!r}.")
    with CallLog.open(path) as log:
        if args.show:
            call = log.get(int(args.show[1]), reveal=args.reveal)
            if args.html:
                page = call_page(call).encode()
                if args.reveal:  # full tokens: readable by you only, as every file holding them
                    write_private_file(Path(args.html), page, overwrite=True)
                else:
                    Path(args.html).write_bytes(page)
                print(f"call {call.id} written to {args.html}" + (" (mode 0600: it holds full tokens)"
                                                                  if args.reveal else ""))
            else:
                print(side_by_side(call), end="")
            return 0
        if args.limit is not None and args.limit < 1:
            raise ValidationError(f"--limit {args.limit}: give 1 or more.")
        chosen = CallFilter(args.run, args.failed, args.api, parse_since(args.since) if args.since else None,
                            args.limit)
        if args.follow:
            try:
                for call in follow(log, chosen):
                    print(calls_json([call]) if args.json else calls_table([call]), end="", flush=True)
            except KeyboardInterrupt:
                pass
            return 0
        calls = select_calls(log, chosen)
        print(calls_json(calls) if args.json else calls_table(calls), end="")
    return 0


def _trigger(args: argparse.Namespace) -> int:
    from .environments import sandbox_admin
    from .workbench import TRIGGERS, trigger

    if args.list or not args.scenario:
        width = max(len(t.usage) for t in TRIGGERS.values())
        print("\n".join(f"{t.usage:<{width}}  {t.what}" for t in TRIGGERS.values()))
        return 0
    admin = sandbox_admin(args.url or os.environ.get("OVO_NB_SANDBOX_URL") or SANDBOX_SERVER_URL)
    try:
        did, undo = trigger(admin, args.scenario[0], args.scenario[1:])
    finally:
        admin.close()
    print(f"{args.scenario[0]}: {did}\nundo: {undo}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from .calllog import CallLog
    from .config import load_profile
    from .flows import Ovo
    from .workbench import replay, replay_table

    source = load_profile(args.source or args.profile, complete=False)
    path = source.state_location("calls")
    if not_yet_made(path):
        raise ValidationError(f"No call log at {path} yet: nothing to replay.")
    with CallLog.open(path) as log, Ovo.open(args.profile) as ovo:
        result = replay(log, args.call_id, ovo, customer=args.customer or "", move_money=args.yes_move_money)
        print(replay_table(result), end="")
    return 0


def _conformance(args: argparse.Namespace) -> int:
    from .calllog import CallLog
    from .config import load_profile
    from .conformance import conformance, fresh_sandbox

    path = load_profile(args.source, complete=False).state_location("calls")
    if not_yet_made(path):
        raise ValidationError(f"No call log at {path} yet: run the notebooks against {args.source} first, or name "
                              "the profile whose log holds the run with --source (sandbox, stage, production).")
    with CallLog.open(path) as log, fresh_sandbox(args.sandbox_state) as ovo:
        report = conformance(log, args.run_id, ovo)
    print(report.table(), end="")
    if args.html:
        Path(args.html).write_text(report.html(), encoding="utf-8")
        print(f"report written to {args.html}")
    return 1 if report.differences else 0


# --------------------------------------------------------------------------- ovo-nb state (a team's database)


def _state(args: argparse.Namespace) -> int:
    from .config import load_profile
    from .migration import migrate, upgrade
    from .secretbox import SecretBox

    if args.action == "new-key":
        if not args.key_file:
            raise ValidationError("expected 'ovo-nb state new-key FILE': where to write the team's vault key.")
        path = SecretBox.write_key(args.key_file)
        print(f"wrote a new vault key to {path} (mode 0600). Share it with your team as you share other secrets "
              f"(never through the database), and set OVO_NB_VAULT_KEY_FILE={path} on each machine.")
        return 0
    profile = load_profile(args.profile)
    if args.action == "upgrade":
        print("\n".join(upgrade(profile)))
        return 0
    if not args.to:
        raise ValidationError("expected 'ovo-nb state migrate --to postgresql://USER@HOST/DATABASE'.")
    moved = migrate(profile, args.to, source_key=args.source_key)
    print(f"{profile.name}: {profile.state_dir} -> the team's database, schema {profile.state_schema}")
    print("\n".join(m.line() for m in moved))
    if not all(m.ok for m in moved):
        print("Some rows differ (above): the database already held other records under the same references.")
        return 1
    print(f"Every row is in the database. Next: set state_url (or OVO_NB_{profile.name.upper()}_STATE_URL) for the "
          f"{profile.name} profile; the files in {profile.state_dir} are left as they were.")
    return 0


def _state_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    state = commands.add_parser(
        "state", help="a team's database: migrate SQLite state into it, upgrade its schema, make the shared key",
        description="migrate --to URL: copy this profile's call log, vault and ledger files into a PostgreSQL "
                    "database and check counts and sums (again: copies nothing twice). upgrade: bring the shared "
                    "database's schema up to this ovo-nb. new-key FILE: write a new vault key for the team.")
    state.add_argument("action", choices=["migrate", "upgrade", "new-key"])
    state.add_argument("key_file", nargs="?", default=None, help="with new-key: the key file to write")
    state.add_argument("--to", dest="to", help="with migrate: the postgresql:// URL of the team's database")
    state.add_argument("--profile", default=None, help="whose state (default: $OVO_NB_PROFILE or sandbox)")
    state.add_argument("--source-key", default=None,
                       help="with migrate: the key file the SQLite state was sealed with "
                            "(default: ~/.ovo-nb/vault.key)")
    state.set_defaults(handler=_state)


def _mapping(text: str | None, flag: str) -> dict[str, str]:
    """``"order=partner_reference_no,total=amount"`` as a mapping."""
    if not text:
        return {}
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(pair) != 2 or not pair[0].strip() or not pair[1].strip() for pair in pairs):
        raise ValidationError(f"{flag} {text!r}: give 'your column=field,...', e.g. 'order_id=partner_reference_no'.")
    return {column.strip(): name.strip() for column, name in pairs}


def _open_ledger(profile_name: str | None, *, instead: str = "") -> PartnerLedger:
    """The profile's partner ledger (its file, or the team's database); ``instead``: what else the command takes."""
    from .config import load_profile
    from .ledger import PartnerLedger

    profile = load_profile(profile_name, complete=False)
    where = profile.state_location("ledger")
    if not_yet_made(where):
        raise ValidationError(f"No partner ledger at {where} yet: run payments with the {profile.name} profile first"
                              + (f", or {instead}." if instead else "."))
    return PartnerLedger(where)


def _reconcile(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .reconciliation import ALL_CATEGORIES, NO_PRESET, PRESETS, SETTLED, Preset, ledger_rows, reconcile
    from .reports import write_reconciliation
    from .views import amount_text

    failing = [name.strip() for name in (args.fail_on or "").split(",") if name.strip()]
    if "any" in failing:
        failing = [c for c in ALL_CATEGORIES if c not in SETTLED]
    unknown = [name for name in failing if name not in ALL_CATEGORIES]
    if unknown:
        raise ValidationError(f"--fail-on {', '.join(unknown)}: not a category; one of {', '.join(ALL_CATEGORIES)} "
                              "or 'any'.")
    sides: dict[str, object] = {}
    presets: dict[str, Preset] = {}
    for side, source in (("partner", args.partner), ("ovo", args.ovo)):
        name = getattr(args, f"{side}_preset")
        if name not in (*PRESETS, "none"):
            raise ValidationError(f"--{side}-preset {name!r}: one of {', '.join(PRESETS)} or none.")
        base = PRESETS.get(name, NO_PRESET)
        renamed = _mapping(getattr(args, f"{side}_map"), f"--{side}-map")
        presets[side] = replace(base, mapping={**base.mapping, **renamed},
                                amount_format=getattr(args, f"{side}_amount_format") or base.amount_format)
        sides[side] = source
    described = {"partner": args.partner, "ovo": args.ovo}
    ledger = None
    if args.partner == "ledger":
        ledger = _open_ledger(args.profile, instead="give the partner's export file instead of 'ledger'")
        sides["partner"], described["partner"] = ledger_rows(ledger), f"partner ledger ({ledger.where})"
    try:
        result = reconcile(sides["partner"], sides["ovo"], partner_preset=presets["partner"],
                           ovo_preset=presets["ovo"], amount_format=args.amount_format, period=args.period,
                           cut_off_days=args.cut_off_days, partner_source=described["partner"],
                           ovo_source=described["ovo"])
    finally:
        if ledger is not None:
            ledger.close()
    written = write_reconciliation(result, args.out, args.formats.split(",")) if args.out else {}
    counts, totals = result.counts(), result.category_totals()
    failed = [name for name in ALL_CATEGORIES if name in failing and counts.get(name, 0) > 0]
    if args.json:
        summary = result.summary()
        summary.update(sources=described, written={k: str(v) for k, v in written.items()}, fail_on=failing,
                       failing=failed, exit=1 if failed else 0)
        print(json.dumps(summary, indent=2))
    else:
        period = f", {result.period} (Jakarta days; counterparts up to {args.cut_off_days} day(s) across the " \
                 "cut-off)" if result.period else ""
        print(f"OVO reconciliation{period}\n  partner: {described['partner']}\n  OVO:     {described['ovo']}")
        print(f"  {'category':<20} {'rows':>10} {'partner IDR':>20} {'OVO IDR':>20}")
        for name in result.categories:
            print(f"  {name:<20} {int(counts[name]):>10,} {amount_text(totals.loc[name, 'partner_idr']):>20} "
                  f"{amount_text(totals.loc[name, 'ovo_idr']):>20}")
        if written:
            print(f"reports in {args.out}: {', '.join(sorted(written))}")
    for name in failed:
        where = f" (see {written[f'{name}.csv']})" if f"{name}.csv" in written else ""
        print(f"FAIL {name}: {int(counts[name]):,} row(s), partner IDR {amount_text(totals.loc[name, 'partner_idr'])}, "
              f"OVO IDR {amount_text(totals.loc[name, 'ovo_idr'])}{where}", file=sys.stderr)
    return 1 if failed else 0


def _ledger(args: argparse.Namespace) -> int:
    from .reconciliation import Period, ledger_rows
    from .reports import export_target, write_ledger_export

    period = Period.parse(args.period)
    if args.out:
        export_target(args.out)
    ledger = _open_ledger(args.profile)
    try:
        rows = ledger_rows(ledger, period)
    finally:
        ledger.close()
    if args.out:
        path = write_ledger_export(rows, args.out)
        print(f"{len(rows):,} row(s) of {period} written to {path}", file=sys.stderr)
    else:
        sys.stdout.write(rows.to_csv(index=False))
    return 0


PAGE_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob: data:; "
               "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
               "connect-src 'self' ws: wss:; frame-ancestors 'self'; form-action 'self'; base-uri 'self'")
"""Finance's page loads nothing from elsewhere (Voila's template links a font stylesheet on a CDN: refused)."""


def _set_xsrf_cookie(request: Any, notebook: Any, cwd: str) -> None:
    """Before the page's kernel starts: give the page its ``_xsrf`` cookie, which the page's own
    "shut my kernel down" call on closing needs (Voila does not set it; without it that call is
    refused and the session would linger until culled)."""
    request.xsrf_token  # noqa: B018  (reading it sets the cookie)


def _finance(args: argparse.Namespace) -> int:
    import secrets
    import shutil
    import socket
    import tempfile
    import webbrowser

    from voila.app import Voila

    from .finance import DATA_ENV, MAX_UPLOAD_ENV, SESSIONS_ENV, quiet_server_logs

    notebook = Path(__file__).parent / "apps" / "finance.ipynb"
    data = Path(args.data).expanduser().resolve() if args.data else None
    if data is not None and not data.is_dir():
        raise ValidationError(f"--data {args.data}: not a folder; give the folder holding the exports to pick from.")
    if args.max_upload < 1:
        raise ValidationError(f"--max-upload {args.max_upload}: give 1 (MB) or more.")
    try:
        with socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: a closed port is free
            probe.bind((args.host, args.port))
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValidationError(f"cannot listen on {args.host}:{args.port} ({reason}); choose another --port "
                              "or --host.") from None
    token = args.token or secrets.token_urlsafe(24)
    sessions = Path(tempfile.mkdtemp(prefix="ovo-nb-finance-"))  # every session's files; all gone at the end
    os.environ.update({MAX_UPLOAD_ENV: str(args.max_upload * 1024 * 1024), SESSIONS_ENV: str(sessions)})
    if data is not None:
        os.environ[DATA_ENV] = str(data)  # the page's kernels inherit this process's environment
    server = Voila()
    server.initialize([str(notebook), f"--Voila.ip={args.host}", f"--port={args.port}", "--no-browser",
                       f"--token={token}", "--Voila.port_retries=0", f"--Voila.root_dir={notebook.parent}",
                       "--Voila.log_level=WARN", "--MappingKernelManager.cull_idle_timeout=3600",
                       "--MappingKernelManager.cull_interval=300",
                       # kernels talk over Unix sockets in the private folder, not TCP on the machine
                       "--KernelManager.transport=ipc", f"--KernelManager.ip={sessions / 'kernel'}"])
    quiet_server_logs(server.log)
    server.voila_configuration.prelaunch_hook = _set_xsrf_cookie
    server.voila_configuration.file_allowlist = []  # Voila serves allow-listed files without the token: none
    server.tornado_settings = {"headers": {"Content-Security-Policy": PAGE_POLICY}}
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{args.port}/?token={token}"
    print(f"Finance's reconciliation page: {url}", flush=True)
    print(f"  uploads up to {args.max_upload} MB, kept only while a page is open"
          + (f"; files to pick from {data}" if data else "") + "\nCtrl+C stops it.", flush=True)
    if args.open:
        webbrowser.open(url)
    try:
        server.start()  # until Ctrl+C or SIGTERM; then every page's kernel is shut down
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(sessions, ignore_errors=True)
    return 0


def _init(args: argparse.Namespace) -> int:
    from .scaffold import init_project

    result = init_project(args.folder, force=args.force)
    for verb, names in (("wrote", result.written), ("replaced", result.replaced)):
        for name in names:
            print(f"{verb:<9} {name}")
    for name in result.kept:
        print(f"kept      {name}: it exists and differs from what ovo-nb would write (--force replaces it)")
    for name in result.yours:
        print(f"kept      {name}: yours to fill in (this version's template: {Path(__file__).parent / 'templates'})")
    if result.unchanged:
        print(f"{len(result.unchanged)} file(s) already up to date")
    if result.local_source is not None:
        print(f"note      requirements.txt names {result.local_source}, the source folder ovo-nb was installed from: "
              "it installs on this machine only (the file says how to make it portable for CI)")
    where = "" if Path(args.folder).resolve() == Path.cwd() else f"cd {args.folder} && "
    print(f"Project ready in {result.folder.resolve()}. Next: {where}ovo-nb run   (or: jupyter lab notebooks/)")
    return 0


class _Version(argparse.Action):
    """``--version`` printed as one line whatever the terminal's width (argparse's own wraps a long path)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        from . import __version__

        print(f"ovo-nb {__version__} (Python {sys.version.split()[0]}, {Path(__file__).parent})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:

    parser = argparse.ArgumentParser(prog="ovo-nb", description="OVO BI SNAP integration toolkit.")
    parser.add_argument("--version", action=_Version, nargs=0, default=argparse.SUPPRESS,
                        help="print the version, the Python and where ovo-nb is installed, and exit")
    commands = parser.add_subparsers(dest="command", required=True)
    initialising = commands.add_parser("init", help="make a project of your own: the notebooks, a settings file, "
                                                    ".gitignore, CI for GitHub and GitLab, a README")
    initialising.add_argument("folder", nargs="?", default=".", help="the project folder (default: this one)")
    initialising.add_argument("--force", action="store_true",
                              help="replace notebooks, CI files and .gitignore that differ from this version's (your "
                                   "changes to them are lost; ovo-nb.toml and README.md are always kept)")
    initialising.set_defaults(handler=_init)
    run = commands.add_parser(
        "run", help="execute the notebooks headless into outputs/<run-id>/",
        description="Exit codes: 0 every notebook passed, 1 one failed, 2 a usage error, 3 one is waiting for a "
                    "customer's webview step (the resume command is printed), 4 one was skipped (it says why).")
    run.add_argument("notebooks", nargs="*", help="notebook names (default: all), e.g. key_setup")
    run.add_argument("--output", default=None, help="output root folder (default: outputs/)")
    run.add_argument("--profile", default=None,
                     help="sandbox, stage or production (default: $OVO_NB_PROFILE, the project's, else sandbox); "
                          "-p profile wins")
    run.add_argument("--timeout", type=int, default=600, help="seconds one cell may take (default: 600)")
    run.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                     help="notebooks run at once, each in its own kernel (default: the number of cores)")
    run.add_argument("--junit", default=None, metavar="FILE",
                     help="also write JUnit XML: a testcase per notebook and per BI scenario")
    run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="set a notebook parameter, typed as the notebook declares it (repeatable)")
    run.set_defaults(handler=_run)
    sandbox = commands.add_parser("sandbox", help="serve the embedded OVO sandbox on loopback; `reset` starts it fresh")
    sandbox.add_argument("action", nargs="?", choices=["reset"],
                         help="reset: remove the sandbox's state and the sandbox profile's vault and ledger (the "
                              "partner key, its credentials and the call log stay)")
    sandbox.add_argument("--force", action="store_true", help="with reset: even when the state looks open")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=SANDBOX_PORT,
                         help=f"port (default: {SANDBOX_PORT}; 0 picks a free one)")
    sandbox.add_argument("--state", default=None, help="SQLite state file (default: ~/.ovo-nb/sandbox/state.sqlite)")
    sandbox.add_argument("--config", default=None, help="TOML file seeding partners and customers")
    sandbox.add_argument("--no-demo", action="store_true",
                         help="do not create the demo binding and payment (keeps the partner's records clean)")
    sandbox.add_argument("--base-url", default=None, metavar="URL",
                         help="where clients reach this sandbox, for the webview links and redirects it hands out "
                              "(default: http://HOST:PORT; loopback when --host is 0.0.0.0 or ::)")
    sandbox.add_argument("--max-body", type=int, default=1024 * 1024,
                         help="largest request body in bytes; larger ones are refused 413 unread (default: 1 MB)")
    sandbox.add_argument("--quiet", action="store_true", help="do not print a line per request")
    sandbox.add_argument("--rules", action="store_true",
                         help="print the rule catalogue: every OVO rule the sandbox enforces, and its source")
    sandbox.set_defaults(handler=_sandbox)
    doctor = commands.add_parser(
        "doctor", help="check a profile against its server, or explain a logged call's signature",
        description="Exit codes: 0 every check passed, 1 a check failed (each names what is wrong), 2 a usage "
                    "error, 3 the server was not reached (the credentials are unproven).")
    doctor.add_argument("--profile", default=None, help="sandbox, stage or production (default: $OVO_NB_PROFILE)")
    doctor.add_argument("--call", type=int, default=None, help="explain this call id from the call log")
    doctor.add_argument("--offline", action="store_true",
                        help="local checks only (keys, public key formats, callback URLs): nothing is sent")
    doctor.set_defaults(handler=_doctor)
    calls = commands.add_parser("calls", help="list the call log, follow it, or show one call side by side")
    calls.add_argument("show", nargs="*", metavar="show ID",
                       help="'show ID': one call's request and answer side by side")
    calls.add_argument("--profile", default=None, help="whose call log (default: $OVO_NB_PROFILE or sandbox)")
    calls.add_argument("--run", default=None, help="one run id (default: every run)")
    calls.add_argument("--failed", action="store_true", help="only calls with no answer or a non-2xx code")
    calls.add_argument("--api", default=None, help="only one API, e.g. debit_payment")
    calls.add_argument("--since", default=None, help="a span (15m, 2h, 1d) or an ISO time")
    calls.add_argument("--limit", type=int, default=50, help="the newest N calls (default: 50)")
    calls.add_argument("--json", action="store_true", help="one JSON object per line")
    calls.add_argument("--follow", action="store_true", help="keep printing new calls, each once its answer arrives")
    calls.add_argument("--reveal", action="store_true", help="with show: full headers (tokens unmasked)")
    calls.add_argument("--html", default=None, help="with show: write the side by side as an HTML page")
    calls.set_defaults(handler=_calls)
    triggering = commands.add_parser("trigger", help="set up a scenario in a running sandbox (insufficient funds, "
                                                     "a timeout after commit, the clock +16m, ...)")
    triggering.add_argument("scenario", nargs="*", help="a trigger and its arguments, e.g. insufficient-funds PHONE")
    triggering.add_argument("--list", action="store_true", help="list the triggers")
    triggering.add_argument("--url", default=None,
                            help=f"the running sandbox (default: $OVO_NB_SANDBOX_URL, else {SANDBOX_SERVER_URL}, as "
                                 "`ovo-nb sandbox` serves)")
    triggering.set_defaults(handler=_trigger)
    replaying = commands.add_parser("replay", help="resend a logged call, re-signed, and show both answers")
    replaying.add_argument("call_id", type=int, help="the call id (ovo-nb calls lists them)")
    replaying.add_argument("--profile", default=None, help="where to send it (default: $OVO_NB_PROFILE or sandbox)")
    replaying.add_argument("--source", default=None, help="whose call log holds it (default: --profile's)")
    replaying.add_argument("--customer", default=None, help="the customer whose current token to use")
    replaying.add_argument("--yes-move-money", action="store_true",
                           help="allow resending a debit or refund to production")
    replaying.set_defaults(handler=_replay)
    conforming = commands.add_parser("conformance", help="replay a recorded run against the sandbox and report "
                                                         "call by call where the sandbox answered differently")
    conforming.add_argument("run_id", help="the run to replay (ovo-nb calls --profile stage lists runs)")
    conforming.add_argument("--source", default="stage", help="whose call log holds the run (default: stage)")
    conforming.add_argument("--sandbox-state", default=":memory:",
                            help="the sandbox's state file (default: a fresh one in memory)")
    conforming.add_argument("--html", default=None, help="also write the report as an HTML page")
    conforming.set_defaults(handler=_conformance)
    _state_parser(commands)
    _add_postman(commands)
    reconciling = commands.add_parser(
        "reconcile", help="match the partner's records against OVO's; exit 1 when a --fail-on category has rows",
        description="Match the partner's records against OVO's, every row in one category. Exit 0, or 1 when a "
                    "--fail-on category has rows (one line each on stderr), or 2 when an input is refused.")
    reconciling.add_argument("partner", help="the partner's file or glob (CSV, XLSX, Parquet), or 'ledger' for the "
                                             "profile's partner ledger")
    reconciling.add_argument("ovo", help="OVO's settlement file or glob (CSV, XLSX, Parquet)")
    reconciling.add_argument("--period", default=None,
                             help="Jakarta days to reconcile: a month (2026-11), a day or FIRST..LAST; rows just "
                                  "across its edge are matched as cut_off")
    reconciling.add_argument("--cut-off-days", type=int, default=1,
                             help="how far outside the period a counterpart is looked for (default: 1 day)")
    reconciling.add_argument("--out", default=None, metavar="DIR",
                             help="write the CSV per category, reconciliation.xlsx and reconciliation.html here")
    reconciling.add_argument("--formats", default="csv,xlsx,html", help="which reports --out writes (default: all)")
    reconciling.add_argument("--fail-on", default=None, metavar="CATEGORIES",
                             help="comma-separated categories (or 'any': every one but matched and cut_off) that "
                                  "make the command exit 1 when they have rows")
    reconciling.add_argument("--json", action="store_true", help="print the summary as JSON")
    reconciling.add_argument("--partner-preset", default="ledger",
                             help="the partner file's layout: ledger (default: ovo-nb ledger export), "
                                  "ovo-settlement or none")
    reconciling.add_argument("--ovo-preset", default="ovo-settlement",
                             help="OVO's file layout: ovo-settlement (default, the assumed layout) or none")
    reconciling.add_argument("--partner-map", default=None, metavar="COLUMN=FIELD,...",
                             help="rename the partner file's columns, e.g. order_id=partner_reference_no")
    reconciling.add_argument("--ovo-map", default=None, metavar="COLUMN=FIELD,...", help="rename OVO's columns")
    reconciling.add_argument("--amount-format", default="auto",
                             help="how amounts are written: auto (default: detected per file), plain (15000.00), "
                                  "en (15,000.00) or id (15.000,00)")
    reconciling.add_argument("--partner-amount-format", default=None, help="the partner file's only")
    reconciling.add_argument("--ovo-amount-format", default=None, help="OVO's file's only")
    reconciling.add_argument("--profile", default=None, help="whose partner ledger 'ledger' reads")
    reconciling.set_defaults(handler=_reconcile)
    ledgering = commands.add_parser("ledger", help="the partner ledger: export a period for reconciliation")
    ledger_commands = ledgering.add_subparsers(dest="ledger_command", required=True)
    exporting = ledger_commands.add_parser("export", help="write the ledger's payments and refunds of a period")
    exporting.add_argument("--period", required=True, help="Jakarta days: a month (2026-11), a day or FIRST..LAST")
    exporting.add_argument("--out", default=None, metavar="FILE",
                           help="a .csv, .xlsx or .parquet file (default: CSV on standard output)")
    exporting.add_argument("--profile", default=None, help="whose ledger (default: $OVO_NB_PROFILE or sandbox)")
    exporting.set_defaults(handler=_ledger)
    financing = commands.add_parser("finance", help="serve finance's reconciliation page (upload two files, pick the "
                                                    "period, see and download the result)")
    financing.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    financing.add_argument("--port", type=int, default=8866, help="port (default: 8866)")
    financing.add_argument("--token", default=None,
                           help="the access token in the page's link (default: a new random one each start)")
    financing.add_argument("--data", default=None, metavar="DIR",
                           help="a folder of exports finance can pick from instead of uploading")
    financing.add_argument("--max-upload", type=int, default=100, metavar="MB",
                           help="the largest file a page accepts (default: 100 MB; bigger ones go in --data)")
    financing.add_argument("--open", action="store_true", help="open the page in the default browser")
    financing.set_defaults(handler=_finance)
    return parser


# ----------------------------------------------------------------------------- ovo-nb postman


def _postman(args: argparse.Namespace) -> int:
    from .postman import export_postman

    done = export_postman(args.profile, args.out, jsrsasign=args.jsrsasign,
                          production_secrets=args.yes_production_secrets)
    print(f"collection:  {done.collection} ({done.requests} requests)")
    print(f"environment: {done.environment} (mode 0600: it holds the client secret and the private key, "
          "unencrypted; keep it out of shared workspaces and version control)")
    if done.webview_mode == "sandbox":
        print("webview steps: through the sandbox's admin API (start `ovo-nb sandbox` first)")
    else:
        print("webview steps: the run stops at each one with the URL to open; paste where the browser lands "
              "into the named variable and go on from there")
    print(f"run it: import both into Postman, or `npx newman@6 run {done.collection} -e {done.environment}`")
    return 0


def _add_postman(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    postman = commands.add_parser("postman", help="write a Postman collection and environment for a profile, "
                                                  "signed as OVO expects")
    postman.add_argument("--profile", default=None, help="sandbox, stage or production (default: $OVO_NB_PROFILE "
                                                         "or sandbox)")
    postman.add_argument("--out", default=None, help="folder for the two files (default: ~/.ovo-nb/postman)")
    postman.add_argument("--jsrsasign", default=None, metavar="FILE",
                         help="jsrsasign-all-min.js to embed for RSA signing (default: node_modules/jsrsasign here "
                              "or in a parent folder)")
    postman.add_argument("--yes-production-secrets", action="store_true",
                         help="allow writing production's client secret and private key into the environment")
    postman.set_defaults(handler=_postman)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except OvoNbError as exc:
        print(f"ovo-nb: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`| head`): what it wanted was printed
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
