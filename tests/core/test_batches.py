"""core/batches.py: a run's batches drawn in blocks. Oracles: the per-step draw every
version before blocks made (written out here with numpy's generator), numpy's own draws
for a block, and a stream that never stopped for state and restore."""

import numpy as np
import pytest

from smtui.core import batches, distributions, fused
from smtui.core.batches import BatchStream, Plan, block_steps
from smtui.core.compare import Comparison
from smtui.core.config import Config
from smtui.core.objectives import OBJECTIVES
from smtui.core.parzen import parzen_score
from smtui.core.trainer import Trainer

SEED, SIGMA = 11, 0.3


def _plan(names, dtype="float64", size=64, n=80):
    q = distributions.analytic("ring8")
    data = distributions.sample("ring8", n, 3)
    return Plan(tuple(names), data, size, SIGMA, dtype, data_score=q.score(data), analytic=q)


def _per_step(name, plan, rng):
    """A batch as smtui drew it step by step before blocks (stream version 1), from numpy."""
    d, dt = plan.data.shape[1], plan.dtype
    idx = rng.integers(0, len(plan.data), plan.size)
    x = plan.data[idx]
    if name in ("esm", "ism", "ism-reg"):
        out = {"x": x.astype(dt)}
        if name == "esm":
            out["target"] = plan.data_score[idx].astype(dt)
        return out
    xt = x + SIGMA * rng.standard_normal((plan.size, d))  # x + sigma eps: the same rounding as eps *= sigma; += x
    out = {"x": xt.astype(dt)} if name in ("esm-sigma", "ism-sigma") else {"x": x.astype(dt), "xt": xt.astype(dt)}
    if name == "esm-sigma":
        out["target"] = parzen_score(xt.astype(dt), plan.data.astype(dt), SIGMA)
    return out


def _same(got, want):
    for k, v in want.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)
        assert got[k].dtype == v.dtype, k
    x1 = got.get("xt1", got["x1"] if "x1" in got else None)
    np.testing.assert_array_equal(x1[:, :-1], got["xt" if "xt1" in got else "x"])
    assert np.all(x1[:, -1] == 1.0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_version_1_draws_each_step_as_smtui_always_did(name, dtype):
    plan = _plan([name], dtype)
    stream, rng = BatchStream(SEED, version=1), np.random.default_rng([SEED, 0xBA7C])
    stream.use(plan)
    for _ in range(5):
        _same(stream.next()[name], _per_step(name, plan, rng))


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_version_2_draws_a_blocks_rows_then_its_noise(name):
    """Steps 1..k take their rows from one draw of k * size, their noise from the next; step
    k + 1 starts the next block."""
    plan = _plan([name], "float32", size=48)
    k = block_steps(2, 48)
    stream, rng = BatchStream(SEED), np.random.default_rng([SEED, 0xBA7C])
    stream.use(plan)
    for _ in range(2):
        idx = rng.integers(0, len(plan.data), k * 48)
        eps = rng.standard_normal((k * 48, 2)) if OBJECTIVES[name].noisy else None
        for j in range(k):
            rows = slice(j * 48, (j + 1) * 48)
            x = plan.data[idx[rows]]
            got = stream.next()[name]
            if eps is None:
                np.testing.assert_array_equal(got["x"], x.astype(np.float32))
            else:
                xt = (x + SIGMA * eps[rows]).astype(np.float32)
                np.testing.assert_array_equal(got["xt" if "xt" in got else "x"], xt)
                if name == "esm-sigma":  # computed for the whole block: the same target to rounding
                    want = parzen_score(xt, plan.data.astype(np.float32), SIGMA)
                    np.testing.assert_allclose(got["target"], want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_block_sizes():
    assert block_steps(1, 256) == 1 and block_steps(1, 1) == 1
    assert block_steps(2, 256) == batches.BLOCK_STEPS and block_steps(2, 1) == batches.BLOCK_STEPS
    assert block_steps(2, batches.BLOCK_ROWS // 3) == 3
    assert block_steps(2, batches.BLOCK_ROWS) == block_steps(2, 10**6) == 1


def test_a_comparisons_objectives_share_one_draw_as_lone_runs_see_it():
    names = ("esm-sigma", "ism-sigma", "dsm", "dae")
    shared = BatchStream(SEED)
    shared.use(_plan(names))
    lone = {n: BatchStream(SEED) for n in names}
    for n in names:
        lone[n].use(_plan([n]))
    for _ in range(block_steps(2, 64) + 3):
        step = shared.next()
        for n in names:
            _same(step[n], lone[n].next()[n])


def test_a_plan_drawing_alike_keeps_the_block_another_drops_it():
    plan = _plan(["dsm"])
    a, b = BatchStream(SEED), BatchStream(SEED)
    a.use(plan)
    b.use(plan)
    for _ in range(3):
        a.next(), b.next()
    a.use(Plan(plan.names, plan.data, plan.size, plan.sigma, plan.dtype, plan.table, plan.data_score,
               plan.analytic))  # a new plan, drawing alike (a change of learning rate)
    np.testing.assert_array_equal(a.next()["dsm"]["xt"], b.next()["dsm"]["xt"])
    bigger = Plan(plan.names, plan.data, 100, plan.sigma, plan.dtype, plan.table)
    a.use(bigger)  # the rest of the block is dropped; the generator is past it
    rng = np.random.default_rng([SEED, 0xBA7C])
    rng.integers(0, 80, 64 * block_steps(2, 64)), rng.standard_normal((64 * block_steps(2, 64), 2))
    assert a.state() == (rng.bit_generator.state, 0)
    idx = rng.integers(0, 80, 100 * block_steps(2, 100))
    np.testing.assert_array_equal(a.next()["dsm"]["x"], plan.data[idx[:100]])


@pytest.mark.parametrize("taken", [0, 1, 5])
def test_state_and_restore_continue_the_stream(taken):
    plan = _plan(["esm", "ism"], "float32")
    a = BatchStream(SEED)
    a.use(plan)
    for _ in range(block_steps(2, 64) + taken):
        a.next()
    state, at = a.state()
    assert at == taken
    b = BatchStream(SEED + 1)
    b.use(plan)
    b.restore(state, at)
    for _ in range(block_steps(2, 64) + 2):
        x, y = a.next(), b.next()
        for n in plan.names:
            for k in x[n]:
                np.testing.assert_array_equal(x[n][k], y[n][k])
    with pytest.raises(ValueError):
        b.restore(state, block_steps(2, 64))


def test_a_trainer_and_a_comparison_of_clean_objectives_see_the_same_batches():
    cfg = Config(n_train=96, hidden=16, batch=64, eval_every=10**6, objective="esm")
    c = Comparison(cfg, ["esm", "ism"])
    c.train(40)
    for name in ("esm", "ism"):
        t = Trainer(cfg.with_changes(objective=name))
        t.train(40)
        np.testing.assert_array_equal(c.runs[name].theta, t.run.theta)


def test_a_block_is_views_of_one_array_per_kind():
    plan = _plan(["dsm", "ism"])
    s = BatchStream(SEED)
    s.use(plan)
    first, second = s.next(), s.next()
    assert np.shares_memory(first["dsm"]["xt1"], second["dsm"]["xt1"]) is False  # different rows
    assert first["dsm"]["xt1"].base is second["dsm"]["xt1"].base  # of one block array
    assert first["dsm"]["xt1"].flags.c_contiguous and first["ism"]["x1"].flags.c_contiguous
    np.testing.assert_array_equal(first["ism"]["x1"], fused.with_ones(first["dsm"]["x"]))
