"""A plain (non-editable) install: the wheel carries the pipeline files, so `spikestream demo` and `warmup`
find deploy/demo.toml wherever the package lands, and `spikestream --version` answers."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # built from a copy: the build leaves nothing behind in the working tree
    src.mkdir()
    for part in ("pyproject.toml", "README.md", "spikestream", "nodes", "deploy"):
        (shutil.copytree if (ROOT / part).is_dir() else shutil.copy2)(
            ROOT / part, src / part, **({"ignore": shutil.ignore_patterns("__pycache__")} if (ROOT / part).is_dir() else {}))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (whl,) = (tmp / "dist").glob("spikestream-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp / "site"),
                    str(whl)], check=True, capture_output=True, timeout=300)
    return whl, tmp / "site"


def run_installed(site: Path, code: str, cwd: Path) -> str:
    """Python code run against the installed copy (first on the path; the source tree is not the cwd)."""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd,
                       env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


@pytest.mark.slow
def test_the_wheel_ships_the_pipelines_and_units(installed):
    whl, _ = installed
    names = set(zipfile.ZipFile(whl).namelist())
    for f in ("demo.toml", "myo_replay.toml", "systemd/spikestream.service", "systemd/spikestream-node@.service"):
        assert f"spikestream/pipelines/{f}" in names
        assert (ROOT / "deploy" / f).read_bytes() == zipfile.ZipFile(whl).read(f"spikestream/pipelines/{f}")


@pytest.mark.slow
def test_an_installed_copy_finds_its_demo_pipeline_and_says_its_version(installed, tmp_path):
    _, site = installed
    out = run_installed(site, "import spikestream, sys\n"
                              "from spikestream.runtime.demo import DEFAULT_PIPELINE\n"
                              "from spikestream.runtime import pipeline\n"
                              "p = pipeline.load(DEFAULT_PIPELINE)\n"
                              "print(spikestream.__file__); print(DEFAULT_PIPELINE); print(sorted(p.nodes))\n", tmp_path)
    mod, demo, nodes = out.splitlines()
    assert mod.startswith(str(site)) and demo == str(site / "spikestream" / "pipelines" / "demo.toml")
    assert nodes == "['emg', 'output', 'snn']"
    out = run_installed(site, "import sys\nfrom spikestream.cli import main\nsys.exit(main(['--version']))", tmp_path)
    assert out.startswith("spikestream 0.1.0 (Python ") and "numba" in out and "libzmq" in out
