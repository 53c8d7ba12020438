"""smtui.core is the headless engine: importing all of it, as installed, must not load a UI
library, nor a library smtui does not declare (SciPy came in once through autograd.scipy)."""

import subprocess
import sys


def test_core_imports_no_ui_library(tmp_path):
    code = (
        "import pkgutil, importlib, sys, smtui.core as core\n"
        "for m in pkgutil.iter_modules(core.__path__): importlib.import_module('smtui.core.' + m.name)\n"
        "bad = [m for m in ('textual', 'rich', 'plotext', 'scipy') if m in sys.modules]\n"
        "print(','.join(bad)); sys.exit(1 if bad else 0)\n"
    )
    # From an empty folder: the installed package is what is imported, not the checkout.
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, f"smtui.core loaded UI libraries: {r.stdout} {r.stderr}"
