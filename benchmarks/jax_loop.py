"""The engine's training step beside JAX's: the whole training loop compiled (``lax.scan``
over the steps, batches drawn inside with ``jax.random``, ``jax.value_and_grad`` of the
objective written from docs/math.md, Adam) and JAX called step by step (one jitted step
per Python call), interleaved with the engine, the minimal numpy loop and the floor
(benchmarks/reference.py) in one process; every objective, both float types.

JAX is an optional extra (``pip install smtui[jax]``, or ``pip install jax jaxlib``); without
it this prints one line saying so. XLA runs on one thread here, as the engine's BLAS does
(core/runtime.py), unless XLA_FLAGS is set: the comparison is of one core's work.

    python -m benchmarks.jax_loop                 # every objective, default size, both float types
    python -m benchmarks.jax_loop --objective dsm --rounds 5 --steps 20
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

from benchmarks.common import interleaved_rounds, load_line, make_trainer, parse_size, ratio_spread, table  # noqa: E402
from benchmarks.reference import loop_for  # noqa: E402
from benchmarks.step_time import spread  # noqa: E402
from smtui.core.objectives import OBJECTIVES  # noqa: E402
from smtui.core.optim import ADAM_B1, ADAM_B2, ADAM_EPS  # noqa: E402

NOISY = ("esm-sigma", "ism-sigma", "dsm", "dae")


def jax_available() -> bool:
    try:
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


def jax_loops(trainer):
    """(scan, stepwise): two callables doing ``steps`` training steps of the trainer's setup
    in JAX, the first as one compiled lax.scan per call, the second one jitted step per
    Python call."""
    import jax
    import jax.numpy as jnp

    cfg = trainer.config
    jax.config.update("jax_enable_x64", True)
    dt = jnp.float64 if cfg.dtype == "float64" else jnp.float32
    name, sigma, lam, size, lr = cfg.objective, cfg.sigma, cfg.lam, cfg.batch, cfg.lr
    s2 = sigma**2
    data = jnp.asarray(trainer.data, dtype=dt)
    score = jnp.asarray(trainer.analytic.score(trainer.data), dtype=dt) if name == "esm" else None

    def psi_and_s(p, x):
        s = jax.nn.sigmoid(x @ p["W"].T + p["b"])
        return (s @ p["W"] + p["c"] - x) / s2, s

    def parzen(xt):  # grad log q_sigma(xt): softmax over the training points
        logits = -jnp.sum((xt[:, None, :] - data[None, :, :]) ** 2, axis=2) / (2 * s2)
        w = jax.nn.softmax(logits, axis=1)
        return (w @ data - xt) / s2

    def loss(p, x, xt, idx):
        if name in ("esm", "esm-sigma"):
            at = x if name == "esm" else xt
            target = score[idx] if name == "esm" else jax.lax.stop_gradient(parzen(xt))
            return jnp.mean(0.5 * jnp.sum((psi_and_s(p, at)[0] - target) ** 2, axis=1))
        if name == "dsm":
            return jnp.mean(0.5 * jnp.sum((psi_and_s(p, xt)[0] - (x - xt) / s2) ** 2, axis=1))
        if name == "dae":
            s = jax.nn.sigmoid(xt @ p["W"].T + p["b"])
            return jnp.mean(jnp.sum((s @ p["W"] + p["c"] - x) ** 2, axis=1))
        at = xt if name == "ism-sigma" else x
        psi, s = psi_and_s(p, at)
        diag = ((s * (1 - s)) @ (p["W"] ** 2) - 1) / s2
        reg = lam * jnp.sum(diag**2, axis=1) if name == "ism-reg" else 0.0
        return jnp.mean(0.5 * jnp.sum(psi**2, axis=1) + jnp.sum(diag, axis=1) + reg)

    value_and_grad = jax.value_and_grad(loss)

    def step(carry, _):
        p, m, v, t, key = carry
        key, k1, k2 = jax.random.split(key, 3)
        idx = jax.random.randint(k1, (size,), 0, data.shape[0])
        x = data[idx]
        xt = x + sigma * jax.random.normal(k2, x.shape, dtype=dt) if name in NOISY else x
        value, g = value_and_grad(p, x, xt, idx)
        t = t + 1
        m = jax.tree_util.tree_map(lambda a, b: ADAM_B1 * a + (1 - ADAM_B1) * b, m, g)
        v = jax.tree_util.tree_map(lambda a, b: ADAM_B2 * a + (1 - ADAM_B2) * b * b, v, g)
        scale = lr * jnp.sqrt(1 - ADAM_B2**t) / (1 - ADAM_B1**t)
        p = jax.tree_util.tree_map(lambda a, mm, vv: a - (scale * mm / (jnp.sqrt(vv) + ADAM_EPS)).astype(dt), p, m, v)
        return (p, m, v, t, key), value

    params = {k: jnp.asarray(v, dtype=dt) for k, v in trainer.params.items()}
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = [(params, zeros, zeros, jnp.asarray(0.0, dtype=jnp.float64), jax.random.PRNGKey(cfg.seed))]
    scans, one = {}, jax.jit(lambda carry: step(carry, None))

    def scan(steps):
        if steps not in scans:
            scans[steps] = jax.jit(lambda carry: jax.lax.scan(step, carry, None, length=steps))
        state[0], values = scans[steps](state[0])
        values.block_until_ready()
        return steps

    def stepwise(steps):
        carry = state[0]
        for _ in range(steps):
            carry, value = one(carry)
        value.block_until_ready()
        state[0] = carry
        return steps

    return scan, stepwise


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=parse_size, default=(2, 64, 256), metavar="D,H,B")
    ap.add_argument("--objective", action="append", choices=list(OBJECTIVES), help="repeatable; default all")
    ap.add_argument("--dtype", action="append", choices=["float64", "float32"], help="repeatable; default both")
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds (median taken)")
    ap.add_argument("--steps", type=int, default=40, help="steps per timed block")
    args = ap.parse_args(argv)
    if not jax_available():
        print("JAX is not installed: pip install 'smtui[jax]' (or jax jaxlib) to run this comparison")
        return 0
    print(f"at the start: {load_line()}; XLA_FLAGS={os.environ['XLA_FLAGS']}", flush=True)
    rows = []
    for name in args.objective or list(OBJECTIVES):
        for dt in args.dtype or ["float64", "float32"]:
            trainer = make_trainer(name, *args.size, dt)
            if trainer is None:
                continue
            scan, stepwise = jax_loops(trainer)
            runners = {"engine": trainer.train, "jax scan": scan, "jax step": stepwise,
                       "minimal": loop_for(trainer, "minimal").train, "floor": loop_for(trainer, "floor").train}
            for run in runners.values():  # compile, warm up
                run(args.steps)
            t = interleaved_rounds(runners, args.rounds, args.steps)["wall"]
            us = {k: statistics.median(v) * 1e6 for k, v in t.items()}
            eng, scan_x = ratio_spread(t["minimal"], t["engine"]), ratio_spread(t["minimal"], t["jax scan"])
            rows.append([name, dt, us["engine"], us["jax scan"], us["jax step"], us["minimal"], us["floor"],
                         spread(*eng), spread(*scan_x),
                         ratio_spread(t["minimal"], t["jax step"])[0], ratio_spread(t["jax scan"], t["engine"])[0],
                         us["engine"] / us["floor"], us["jax scan"] / us["floor"]])
            print(table(_HEADER, rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    size = ",".join(map(str, args.size))
    print(table(_HEADER, rows, title=f"d,h,b = {size}: median us per step over {args.rounds} interleaved rounds of "
                                       f"{args.steps} steps; 'x' = speed relative to the minimal numpy loop (median "
                                       "of per-round ratios, quartiles); 'engine/scan' = jax scan us / engine us "
                                       "(> 1: the engine is faster); 'floor' columns = us / floor us"))
    print(f"at the end: {load_line()}")
    return 0


_HEADER = ["objective", "dtype", "engine us", "jax scan us", "jax step us", "minimal us", "floor us",
           "engine x (quartiles)", "jax scan x (quartiles)", "jax step x", "engine/scan", "engine floor", "scan floor"]

if __name__ == "__main__":
    raise SystemExit(main())
