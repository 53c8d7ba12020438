"""core/ is the headless engine: importing all of it must not load a UI library, nor a
library smtui does not declare (SciPy came in once through autograd.scipy)."""

import os
import subprocess
import sys


def test_core_imports_no_ui_library():
    code = (
        "import pkgutil, importlib, sys, core\n"
        "for m in pkgutil.iter_modules(core.__path__): importlib.import_module('core.' + m.name)\n"
        "bad = [m for m in ('textual', 'rich', 'plotext', 'scipy') if m in sys.modules]\n"
        "print(','.join(bad)); sys.exit(1 if bad else 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, f"core loaded UI libraries: {r.stdout} {r.stderr}"
