"""Run by smtui at commit 0cdbb80 (before the flat optimisers) as `python make.py FOLDER`: saves small
experiments, and in continued.npz the parameters and optimiser state each reached 25 steps on
without stopping."""
import sys
from pathlib import Path

import numpy as np

from smtui.core.config import Config
from smtui.core.experiment import save_experiment
from smtui.core.trainer import Trainer

out = Path(sys.argv[1])
CASES = {"adam_dsm": dict(optimizer="adam", objective="dsm", dtype="float64"),
         "momentum_esm": dict(optimizer="momentum", objective="esm", dtype="float64"),
         "sgd_ism": dict(optimizer="sgd", objective="ism", dtype="float32", lr=1e-3),
         "adam_dae": dict(optimizer="adam", objective="dae", dtype="float32")}
expected = {}
for name, ch in CASES.items():
    t = Trainer(Config(n_train=64, batch=32, hidden=8, eval_every=7, seed=3, **ch))
    t.train(20)
    save_experiment(t, out / f"{name}.toml")
    t.train(25)
    for k, v in t.params.items():
        expected[f"{name}.{k}"] = v
    for k, v in t.opt_state.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                expected[f"{name}.opt.{k}.{kk}"] = vv
        else:
            expected[f"{name}.opt.{k}"] = np.asarray(v)
np.savez(out / "continued.npz", **expected)
