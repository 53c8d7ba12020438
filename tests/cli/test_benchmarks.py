"""Each benchmark script runs end to end at a tiny size, so none can rot (no timings checked)."""

import subprocess
import sys

import pytest

RUNS = {
    "step_time": ["--size", "2,4,8", "--size", "3,4,8", "--rounds", "1", "--steps", "2"],
    "end_to_end": ["--steps", "6", "--eval-every", "3", "--hidden", "4", "--batch", "8"],
    "memory": ["--checkpoints", "2,4", "--eval-every", "2"],
    "quadrature": ["--n-train", "16", "--distribution", "moons", "--sigma", "0.3", "--k", "8", "--floor", "1e-6",
                   "--steps", "2"],
    "frame_build": ["--sizes", "80x24", "--repeats", "1", "--steps", "5", "--n-train", "32", "--samples", "20",
                    "--capacity", "64"],
    "parzen_near": ["--n", "3000", "--rounds", "1", "--sigma", "0.02", "--sigma", "3", "--distribution", "moons"],
    "app_responsiveness": ["--size", "80x24", "--seconds", "0.5", "--presses", "1", "--n-train", "64",
                           "--headless-steps", "300", "--loop-rounds", "1", "--loop-seconds", "0.2"],
    "precision": ["--sigma", "0.3", "--mc", "2000", "--steps", "5", "--n-train", "32"],
    "sweep": ["--grid", "sigma=0.1,1", "--seeds", "1", "--steps", "20", "--where", "1,2"],
    "compare_step": ["--n-train", "32", "--steps", "5", "--rounds", "1", "--job-seconds", "0.5"],
    "cli_startup": ["--rounds", "1"],
    "jax_loop": ["--size", "2,4,8", "--objective", "dsm", "--objective", "esm-sigma", "--dtype", "float32",
                 "--rounds", "1", "--steps", "2"],
    "measured_identities": ["--thetas", "2", "--n", "32", "--sigma", "0.3"],
    "ladder": ["--seeds", "1", "--steps", "50", "--particles", "100", "--levels", "3", "--steps-per-level", "3",
               "--mode", "thread"],
    "present": ["--viewers", "2", "--sessions", "1", "--seconds", "0.5", "--warmup", "0.5", "--size", "80x24"],
}


@pytest.mark.parametrize("script", list(RUNS))
def test_benchmark_script_runs(script, repo_root):
    out = subprocess.run([sys.executable, str(repo_root / "benchmarks" / f"{script}.py"), *RUNS[script]],
                         capture_output=True, text=True, timeout=300, cwd=repo_root)
    assert out.returncode == 0, out.stderr
    if script == "jax_loop" and "JAX is not installed" in out.stdout:
        return  # an optional extra (smtui[jax])
    assert "---" in out.stdout  # a table was printed


def test_soak_app_runs_tiny(repo_root):
    """The app soak (real trainer process, headless app) at its --tiny size."""
    out = subprocess.run([sys.executable, str(repo_root / "benchmarks" / "soak_app.py"), "--tiny"],
                         capture_output=True, text=True, timeout=300, cwd=repo_root)
    assert out.returncode == 0, out.stderr
    assert "---" in out.stdout and "trainer RSS MB" in out.stdout and "render errors: 0" in out.stdout


@pytest.mark.parametrize("d", [2, 5])
def test_reference_loops_train_like_the_engine(d):
    """The minimal and fastest numpy loops (written apart from core/) draw the engine's
    batches and follow its losses over 40 Adam steps, for every objective: a benchmark
    that compares the engine with them compares the same work."""
    import numpy as np

    from benchmarks.common import make_trainer
    from benchmarks.reference import loop_for
    from smtui.core.batches import block_steps
    from smtui.core.objectives import OBJECTIVES

    for name in OBJECTIVES:
        trainer = make_trainer(name, d, 12, 24)
        if trainer is None:
            continue
        block = block_steps(trainer.batches.version, trainer.config.batch)
        loops = {k: loop_for(trainer, k, block) for k in ("minimal", "fastest")}
        engine, got = [], {k: [] for k in loops}
        for _ in range(40):  # past the first block of draws (32 steps)
            trainer.train(1)
            engine.append(trainer.last_loss)
            for k, loop in loops.items():
                got[k].append(loop.step())
        for k in loops:  # Adam's eps placement differs in the minimal loop: ~1e-8 apart
            np.testing.assert_allclose(got[k], engine, rtol=1e-5, err_msg=f"{k} {name} d={d}")
