"""The package: one import name, smtui, in the wheel and at run time; a working directory
holding packages named core or tui shadows nothing (issue 15)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest


def shadowing_folder(tmp_path: Path) -> Path:
    """A folder with packages of its own named core and tui that fail loudly if imported."""
    for name in ("core", "tui"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise SystemExit('the folder {name}/ was imported')\n")
    return tmp_path


@pytest.mark.parametrize(("argv", "said"), [(["-m", "smtui", "--help"], "usage: smtui"),
                                            (["-m", "smtui", "list"], "distribution  ring8"),
                                            (["-m", "smtui", "run", "--help"], "usage: smtui run")])
def test_folders_named_core_and_tui_in_the_working_directory_shadow_nothing(tmp_path, argv, said):
    r = subprocess.run([sys.executable, *argv], cwd=shadowing_folder(tmp_path), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "was imported" not in r.stdout + r.stderr
    assert said in r.stdout


def test_the_check_above_can_fail_an_import_of_core_from_there_is_caught(tmp_path):
    r = subprocess.run([sys.executable, "-c", "import core"], cwd=shadowing_folder(tmp_path), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "the folder core/ was imported" in r.stderr


def test_the_wheel_holds_only_the_smtui_package_and_its_metadata(tmp_path, repo_root):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check",
                        "-w", str(tmp_path), str(repo_root)], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    if r.returncode != 0:
        pytest.skip(f"no wheel could be built here: {r.stderr.strip().splitlines()[-1:]}")
    (wheel,) = tmp_path.glob("smtui-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"smtui", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1]
                                                + ".dist-info"}
    # Every module of the source tree's core/ and tui/ is in it, under smtui/, with the styles and the page.
    for folder in ("core", "tui"):
        for path in (repo_root / folder).rglob("*"):
            if path.suffix in {".py", ".tcss", ".html"} and "__pycache__" not in path.parts:
                assert f"smtui/{path.relative_to(repo_root).as_posix()}" in names, path
    assert {"smtui/__init__.py", "smtui/__main__.py", "smtui/api.py"} <= set(names)
    entry_points = zipfile.ZipFile(wheel).read(f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}"
                                               ".dist-info/entry_points.txt").decode()
    assert "smtui = smtui.tui.cli.main:entry" in entry_points
