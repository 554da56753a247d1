"""A double-click on a notebook in JupyterLab opens it as a notebook (issue 21, item 11).

``make setup`` writes JupyterLab's default viewers (the jupytext notebook for ``.py`` and ``.md``
files) into the environment's own ``etc/jupyter/labconfig``, never into the user's home. This
test runs that very Makefile target into a temporary "environment", starts ``jupyter lab`` on a
free loopback port with a token (its config and home directories also temporary, so nothing of
the user's is read or written), and asks JupyterLab's settings API which viewer a ``.py`` file
gets. It waits for the server by polling, with generous limits (never on speed).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PLUGIN = "@jupyterlab/docmanager-extension:plugin"

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or not (BIN / "jupytext-config").exists()
    or not (BIN / "jupyter-lab").exists(),
    reason="needs make, jupytext-config and jupyter-lab in the test environment")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _make_labconfig(venv: Path) -> Path:
    """Run the Makefile's own target for the lab config into ``venv`` (already "installed")."""
    venv.mkdir(parents=True)
    (venv / ".installed").touch()  # newer than pyproject.toml: make does not reinstall
    target = venv / "etc" / "jupyter" / "labconfig" / "default_setting_overrides.json"
    out = subprocess.run(["make", "-s", "-C", str(ROOT), f"VENV={venv}", f"BIN={BIN}",
                          str(target)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return target


def test_make_setup_writes_the_viewer_inside_the_environment_only():
    # -n: print the recipes only; -B: as if nothing were built yet (an installed .venv too)
    dry = subprocess.run(["make", "-n", "-B", "-C", str(ROOT), "setup"], capture_output=True,
                         text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    line = next(x for x in dry.stdout.splitlines() if "jupytext-config" in x)
    settings = line.split("--settings-file", 1)[1].split()[0]
    assert settings == ".venv/etc/jupyter/labconfig/default_setting_overrides.json", line
    assert "~" not in line and "HOME" not in line and str(Path.home()) not in line
    assert "lab:" in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_jupyterlab_opens_py_notebooks_with_jupytext(tmp_path):
    venv = tmp_path / "venv"
    target = _make_labconfig(venv)
    viewers = json.loads(target.read_text(encoding="utf-8"))[PLUGIN]["defaultViewers"]
    assert viewers["python"] == "Jupytext Notebook"

    home = tmp_path / "home"
    home.mkdir()
    token = secrets.token_hex(16)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTER_CONFIG_PATH=str(venv / "etc" / "jupyter"))
    log = open(tmp_path / "lab.log", "w")  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen(
        [str(BIN / "jupyter-lab"), "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT / 'notebooks'}",
         "--ServerApp.port_retries=0", *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}/lab/api/settings/{PLUGIN}"
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        deadline = time.monotonic() + 240
        reply = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(request, timeout=30) as r:
                    reply = json.loads(r.read().decode("utf-8"))
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1.0)
        log.flush()
        assert reply is not None, (tmp_path / "lab.log").read_text(encoding="utf-8")[-3000:]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=60)
        log.close()
    # what the frontend uses: the user's settings (none here) over the schema's defaults, which
    # carry the overrides of every labconfig dir
    effective = {**reply["schema"]["properties"]["defaultViewers"]["default"],
                 **reply["settings"].get("defaultViewers", {})}
    assert effective["python"] == "Jupytext Notebook"
    assert effective["markdown"] == "Jupytext Notebook"
    assert not any(home.rglob("default_setting_overrides.json"))  # nothing written in the home
