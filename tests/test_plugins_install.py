"""Third-party views: the documented example and a broken plugin, each pip-installed into a fresh
virtual environment next to Kalipso, then listed by `kalipso views` and used in the real program."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kalipso.demo.generator import Scenario, generate
from tmuxdrive import Tmux

from conftest import REPO

pytestmark = pytest.mark.slow


def pip(venv: Path, *args: str) -> None:
    result = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                             "--disable-pip-version-check", *args], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh environment with Kalipso installed from this checkout (not editable).

    geopandas is left out on purpose: the map view must say how to install it."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root / "env")], check=True, timeout=300)
    env = root / "env"
    pip(env, "setuptools>=61", "wheel")
    src = root / "kalipso-src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".venv", ".git", "*.egg-info", "__pycache__", "build"))
    light = ("redis", "asciichartpy", "pyperclip")  # Kalipso's light dependencies
    pip(env, "--no-build-isolation", str(src), *light, "--no-deps")
    pip(env, *light)
    return env


def kalipso_views(env: Path) -> str:
    result = subprocess.run([str(env / "bin" / "kalipso"), "views"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def database(redis_server, tmp_path):
    generate(redis_server.client(0), redis_server.client(1), str(tmp_path), Scenario(hosts=6, hours=2))
    return redis_server


def run_board(env: Path, server) -> Tmux:
    return Tmux(["--port", str(server.port), "--cache-url", f"redis://127.0.0.1:{server.port}/1", "--refresh", "0"],
                python=str(env / "bin" / "python"))


def test_documented_example_plugin(venv, database, tmp_path):
    example = tmp_path / "kalipso-evidence-types"
    shutil.copytree(REPO / "docs" / "examples" / "kalipso-evidence-types", example)
    pip(venv, "--no-build-isolation", "--no-deps", str(example))
    listing = kalipso_views(venv)
    assert "T  EvidenceTypes" in listing and "kalipso-evidence-types 1.0.0" in listing
    assert "FAILED" not in listing
    t = run_board(venv, database)
    try:
        bar = t.wait_for("Profiles (").splitlines()[-1]
        assert {"T", "M", "E", "?:help"} <= set(bar.split())  # every hotkey is in the help bar
        t.send("n")
        t.wait_for("Timeline 192.168.1.23 timewindow1")
        t.send("T")
        t.wait_for("4 evidence of 4 types", "COMMAND_AND_CONTROL_CHANNEL")
        t.send("Escape", "M")
        t.wait_for("the map needs geopandas", "pip install geopandas")
    finally:
        t.close()


def test_broken_plugin_is_listed_and_contained(venv, database, tmp_path):
    pkg = tmp_path / "broken"
    pkg.mkdir()
    (pkg / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "kalipso-broken-views"
        version = "0.0.1"
        [project.entry-points."kalipso.views"]
        BrokenImport = "broken_import:View"
        BrokenRender = "broken_render:BrokenRender"
        StealsQuit = "broken_render:StealsQuit"
    """))
    (pkg / "broken_import.py").write_text("raise ImportError('this plugin is broken on purpose')\n")
    (pkg / "broken_render.py").write_text(textwrap.dedent("""
        from kalipso.views.base import View
        class BrokenRender(View):
            name, key, title = "BrokenRender", "X", "Always fails"
            def fetch(self, data, selection, page):
                return None
            def render(self, model, size, state):
                raise RuntimeError("render exploded")
        class StealsQuit(BrokenRender):
            name, key = "StealsQuit", "q"
    """))
    (pkg / "setup.cfg").write_text("[options]\npy_modules = broken_import, broken_render\n")
    pip(venv, "--no-build-isolation", "--no-deps", str(pkg))
    listing = kalipso_views(venv)
    assert "BrokenImport" in listing and "FAILED to load (kalipso-broken-views)" in listing
    assert "this plugin is broken on purpose" in listing
    assert "StealsQuit" in listing and "reserved by the main board" in listing
    assert "E  SrcPortClient" in listing and "X  BrokenRender" in listing
    t = run_board(venv, database)
    try:
        t.wait_for("Profiles (")
        t.send("n")
        t.wait_for("Timeline 192.168.1.23")
        t.send("X")
        t.wait_for("The view BrokenRender (kalipso-broken-views) failed: RuntimeError: render exploded")
        t.send("Escape", "E")
        t.wait_for("Source ports as client of 192.168.1.23")  # the other views keep working
        t.send("Escape", "q")
        deadline = __import__("time").monotonic() + 10
        while not t.dead() and __import__("time").monotonic() < deadline:
            __import__("time").sleep(0.1)
        assert t.dead()  # q still quits: the plugin could not take it
        assert "Traceback" not in t.screen()
    finally:
        t.close()
