"""What a partner gets from `pip install`: the wheel, built from this source, installed into a fresh virtual
environment outside the checkout (from a folder of wheels, offline), then used as a partner would: `ovo-nb init`,
`ovo-nb run` (7 of 7), the project's CI command, and every notebook executed by nbconvert from its own folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(1200)

ROOT = Path(__file__).resolve().parent.parent
WHEELHOUSE = Path(os.environ.get("OVO_NB_WHEELHOUSE") or ROOT / ".wheelhouse")
"""The dependencies' wheels: `.ci/run` fills it (pip wheel --wheel-dir .wheelhouse . 'setuptools>=69')."""


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}\n" \
                                 f"{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str], Path]]:
    """The wheel built from this checkout and installed into a fresh venv in a folder far from it."""
    if not any(WHEELHOUSE.glob("setuptools-*.whl")):
        pytest.skip(f"no wheels of the dependencies in {WHEELHOUSE} to install offline: `.ci/run` makes them "
                    "(pip wheel --wheel-dir .wheelhouse . 'setuptools>=69')")
    place = tmp_path_factory.mktemp("partner")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OVO_NB_", "PYTHON", "VIRTUAL_ENV", "JUPYTER"))}
    env.update(OVO_NB_HOME=str(place / "home"), JUPYTER_DATA_DIR=str(place / "jupyter-data"),
               JUPYTER_CONFIG_DIR=str(place / "jupyter-config"), PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "--find-links", str(WHEELHOUSE),
          "--wheel-dir", str(place / "dist"), str(ROOT)], place, env)
    [wheel] = (place / "dist").glob("ovo_nb-*.whl")
    _run([sys.executable, "-m", "venv", str(place / "venv")], place, env)
    venv_bin = place / "venv" / "bin"
    _run([str(venv_bin / "pip"), "install", "--no-index", "--find-links", str(WHEELHOUSE), str(wheel)], place, env)
    env["PATH"] = f"{venv_bin}{os.pathsep}{env['PATH']}"
    yield place, env, wheel


def test_the_wheel_carries_what_the_commands_point_to(installed: tuple[Path, dict[str, str], Path]) -> None:
    names = zipfile.ZipFile(installed[2]).namelist()
    assert sum(n.startswith("ovo_nb/notebooks/") and n.endswith(".ipynb") for n in names) == 7
    for name in ("ovo_nb/docs/FIDELITY.md", "ovo_nb/py.typed", "ovo_nb/templates/ovo-nb.toml",
                 "ovo_nb/templates/github-workflow.yml", "ovo_nb/__main__.py"):
        assert name in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "outputs/"))]


def test_a_partner_goes_from_pip_install_to_a_green_project(installed: tuple[Path, dict[str, str], Path]) -> None:
    place, env, wheel = installed
    python = place / "venv" / "bin" / "python"
    where = _run([str(python), "-c", "import ovo_nb, sys; print(ovo_nb.__file__)"], place, env).stdout
    assert where.startswith(str(place / "venv")) and str(ROOT) not in where
    from ovo_nb import __version__

    assert _run(["ovo-nb", "--version"], place, env).stdout.startswith(f"ovo-nb {__version__}")
    assert _run([str(python), "-m", "ovo_nb", "--version"], place, env).stdout.startswith(f"ovo-nb {__version__}")

    _run(["ovo-nb", "init", "shop"], place, env)
    shop = place / "shop"
    assert (shop / "vendor" / wheel.name).read_bytes() == wheel.read_bytes()
    assert f"./vendor/{wheel.name}" in (shop / "requirements.txt").read_text()
    done = _run(["ovo-nb", "run"], shop, env)
    assert f"notebooks: the project's notebooks in {shop / 'notebooks'}" in done.stdout
    assert "7 of 7 notebooks passed" in done.stdout, done.stdout
    ci = _run(["ovo-nb", "run", "--profile", "sandbox", "--junit", "reports/junit.xml", "key_setup"], shop, env)
    assert "1 of 1 notebooks passed" in ci.stdout and (shop / "reports" / "junit.xml").exists()

    for notebook in sorted((shop / "notebooks").glob("*.ipynb")):  # as JupyterLab runs them: from their folder
        _run(["jupyter", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=600",
              "--output-dir", str(place / "nbconvert"), notebook.name], shop / "notebooks", env)
    assert len(list((place / "nbconvert").glob("*.ipynb"))) == 7
    sessions = [p for p in (shop / "outputs").iterdir() if p.is_dir() and not (p / "summary.json").exists()]
    made = {child.name for session in sessions for child in session.iterdir()}
    assert {"key_setup", "reconciliation", "bi_submission"} <= made  # each kernel found the project's outputs/
    assert not (shop / "notebooks" / "outputs").exists()
