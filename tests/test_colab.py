"""The path a Colab reader takes, rehearsed: a fresh virtual environment with a torch already installed
(standing in for Colab's) runs the chapters' install command — the first code cell, with its
``%pip install "aevae @ git+<repository>"`` pointed at ``git+file://`` of a clone of this repository —
under a stand-in ``google.colab`` module, then the setup cell. torch must be the same afterwards (same
version, same files), and ``import aevae`` must work.

The stand-in torch is the book's pinned one (``torch==2.13.0``); pip takes it from wherever the machine's pip
configuration finds it, and the install cell's other dependencies from the package index. This test needs
git and that index; it takes about a minute and a half (most of it the install cell's own pip run).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"  # the stand-in for Colab's preinstalled torch: any version >= 2.0 would do

PROBE = """
import json, os, sys, torch
print(json.dumps({"version": torch.__version__, "file": os.path.realpath(torch.__file__), "prefix": sys.prefix}))
"""


def _run(cmd, cwd=None, env=None, timeout=900) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd[:4]} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _colab_cells(clone_url: str) -> str:
    """The first two code cells of chapter 1 as one Python script: %pip replaced by the same pip call in a
    subprocess (what IPython's %pip runs: ``sys.executable -m pip``), the repository URL by ``clone_url``."""
    nb = jupytext.read(ROOT / "chapters" / "01_pca.md")
    cells = [c.source for c in nb.cells if c.cell_type == "code"][:2]
    install, setup = cells
    assert 'if "google.colab" in sys.modules:' in install and "%pip install" in install, install
    assert re.search(r'"aevae @ git\+https://[^"]+"', install), "the install cell no longer installs aevae from git"
    install = re.sub(r'"aevae @ git\+https://[^"]+"', f'"aevae @ git+{clone_url}"', install)
    install = re.sub(r"^(\s*)%pip (.*)$",
                     lambda m: f"{m.group(1)}subprocess.check_call([sys.executable, '-m', 'pip'] + "
                               f"shlex.split({m.group(2)!r}))",
                     install, flags=re.M)
    assert "%" not in install, install
    return "\n".join([
        "import shlex, subprocess, sys, types",
        "google = types.ModuleType('google'); google.colab = types.ModuleType('google.colab')",
        "sys.modules['google'] = google; sys.modules['google.colab'] = google.colab  # we are 'on Colab'",
        install,
        "import aevae, os; print('AEVAE', os.path.realpath(aevae.__file__))",
        setup,
        "print('SETUP DONE')",
    ])


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_colab_install_cell_keeps_torch_and_installs_aevae(tmp_path):
    # a clone of this repository's HEAD, as pip would fetch it from GitHub
    clone = tmp_path / "clone"
    _run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)])
    # a plain virtual environment (no system site-packages) with a torch already installed, as on Colab
    venv = tmp_path / "colab"
    _run([sys.executable, "-m", "venv", str(venv)])
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "AEVAE_"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", MPLBACKEND="Agg")
    _run([py, "-m", "pip", "install", "--quiet", "--no-compile", TORCH], env=env)  # no .pyc: Colab's is ready-made
    before = json.loads(_run([py, "-c", PROBE], env=env))
    assert Path(before["prefix"]).resolve() == venv.resolve()
    assert before["file"].startswith(str(venv.resolve())), "the stand-in torch must live in the fresh venv"

    script = tmp_path / "colab_cells.py"
    # file://localhost/<path>: the pip that venv bundles (23.x) rejects a file URL without a host under git+
    script.write_text(_colab_cells(f"file://localhost{clone}"))
    out = _run([py, str(script)], cwd=tmp_path, env=env)

    after = json.loads(_run([py, "-c", PROBE], env=env))
    assert after == before, f"the install replaced Colab's torch: {before} -> {after}"
    installed = re.search(r"^AEVAE (.+)$", out, re.M).group(1)
    assert installed.startswith(str(venv.resolve())) and "clone" not in installed, \
        f"aevae must be installed into the venv, not run from the clone: {installed}"
    assert "SETUP DONE" in out
    # and the module works there: a tiny VAE's loss on a batch of images
    check = ("import torch; from aevae.models import VAE, NetConfig; from aevae.objectives import vae_loss; "
             "m = VAE(NetConfig(hidden=(8,), latent_dim=2)); "
             "print(float(vae_loss(m, torch.rand(4, 28, 28).round(), torch.Generator().manual_seed(0))))")
    assert float(_run([py, "-c", check], env=env).strip()) > 0
