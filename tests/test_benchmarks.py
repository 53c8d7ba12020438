"""Each benchmark script runs end to end at a tiny size, so none can rot (no timings checked)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNS = {
    "step_time": ["--size", "2,4,8", "--size", "3,4,8", "--rounds", "1", "--steps", "1"],
    "end_to_end": ["--steps", "6", "--eval-every", "3", "--hidden", "4", "--batch", "8"],
    "memory": ["--checkpoints", "2,4", "--eval-every", "2"],
    "quadrature": ["--n-train", "16", "--distribution", "moons", "--sigma", "0.3", "--k", "8", "--floor", "1e-6",
                   "--steps", "2"],
    "frame_build": ["--sizes", "80x24", "--repeats", "1", "--steps", "5", "--n-train", "32", "--samples", "20",
                    "--capacity", "64"],
    "app_responsiveness": ["--seconds", "0.5", "--presses", "1", "--n-train", "64"],
    "sweep": ["--sigma", "0.1,1", "--seeds", "1", "--steps", "20", "--jobs", "2"],
}


@pytest.mark.parametrize("script", list(RUNS))
def test_benchmark_script_runs(script):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), *RUNS[script]],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "---" in out.stdout  # a table was printed


def test_soak_app_runs_tiny():
    """The app soak (real trainer process, headless app) at its --tiny size."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "soak_app.py"), "--tiny"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "---" in out.stdout and "trainer RSS MB" in out.stdout and "render errors: 0" in out.stdout
