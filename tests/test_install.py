"""Both `pip install .` and `pip install -e .` expose the built-in views' entry points."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

BUILTIN = {"SrcPortClient", "DstIPsClient", "DstPortServer", "DstPortsClient", "DstPortsClientIPs",
           "OutTuples", "InTuples", "ProfileEvidence", "Activity", "Map"}


def test_editable_install_lists_builtin_views():
    result = subprocess.run([sys.executable, "-m", "kalipso", "views"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    names = {line.split()[1] for line in result.stdout.splitlines() if line and line[0] != "!"}
    assert BUILTIN <= names
    assert "FAILED" not in result.stdout


@pytest.mark.slow
def test_regular_install_carries_entry_points_and_plugins(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    probe = (
        "import sys, importlib.metadata as m\n"
        f"sys.path.insert(0, {str(target)!r})\n"
        f"dist = next(d for d in m.distributions(path=[{str(target)!r}]) if d.metadata['Name'] == 'kalipso')\n"
        "eps = [e for e in dist.entry_points if e.group == 'kalipso.views']\n"
        "for e in eps:\n"
        "    cls = e.load()\n"
        "    module = sys.modules[cls.__module__]\n"
        f"    assert cls.__module__.startswith('kalipso_views') and {str(target)!r} in module.__file__\n"
        "print(' '.join(sorted(e.name for e in eps)))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == BUILTIN
    assert (target / "kalipso_views" / "data" / "countries.geojson").stat().st_size > 100_000


def test_runs_from_the_folder_that_holds_the_checkout(tmp_path):
    # `python -m kalipso` from the parent of a checkout named "kalipso": the checkout folder must
    # not shadow the package ("cannot import name '__version__' from 'kalipso' (unknown location)")
    checkout = tmp_path / "kalipso"
    if (REPO / ".git").exists():
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(checkout)], check=True, timeout=120)
    else:
        shutil.copytree(REPO, checkout, ignore=shutil.ignore_patterns(".venv", "build", "*.egg-info"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for args in (["--version"], ["views"]):
        result = subprocess.run([sys.executable, "-m", "kalipso", *args], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "unknown location" not in result.stderr
    assert result.stdout.startswith(tuple("ECBPNIMHVA")) and "FAILED" not in result.stdout
