"""A Python environment with kitaru installed from a wheel, outside the checkout.

The fresh-process orchestrator runs flows with this interpreter while the
checkout is hidden, so a run proves it needs nothing from the editable checkout.
Dependencies are hard links to the test venv's files (cheap, and still there
when the checkout, which holds the test venv, is hidden); kitaru itself comes
from a wheel built from the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path


def build_wheel(repo: Path, out: Path) -> Path:
    """Build kitaru's wheel from the checkout into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(repo),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    wheels = sorted(out.glob("kitaru-*.whl"))
    assert wheels, f"no wheel built in {out}"
    return wheels[-1]


def make_venv(root: Path, wheel: Path) -> Path:
    """A venv at ``root`` with the test venv's packages and kitaru from ``wheel``."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=300
    )
    python = root / "bin" / "python"
    target = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    source = Path(sysconfig.get_paths()["purelib"])
    try:
        subprocess.run(["cp", "-al", f"{source}/.", str(target)], check=True, timeout=600)
    except subprocess.CalledProcessError:
        shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)
    for entry in target.iterdir():
        # The editable install points back into the checkout: not in this venv.
        if entry.name.startswith(("__editable__", "kitaru")):
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    found = subprocess.run(
        [str(python), "-c", "import kitaru, zenml; print(kitaru.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "")},
        cwd=root,
    ).stdout.strip()
    assert found.startswith(str(root)), found
    return python
