"""smtui.api (api.py): docs/api.md's example runs as written, and the API's figures are the
command line's own."""

import json
import re

import numpy as np
import pytest

from smtui import api
from smtui.tui.cli.main import main


def test_the_documented_example_runs(tmp_path, monkeypatch, capsys, repo_root):
    doc = repo_root / "docs" / "api.md"
    (example,) = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
    monkeypatch.chdir(tmp_path)
    exec(compile(example, str(doc), "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("ok 200 ") and len(out.splitlines()) == 2 + 6
    assert (tmp_path / "sweep.jsonl").exists()


SMALL = dict(n_train=40, hidden=6, batch=16)


def test_train_and_sweep_give_the_command_lines_figures(tmp_path, capsys):
    run = api.train(steps=30, **SMALL)
    assert main(["run", "--n-train", "40", "--hidden", "6", "--batch", "16", "--steps", "30", "--json",
                 str(tmp_path / "run.json")]) == 0
    cli = json.loads((tmp_path / "run.json").read_text())
    assert run["figures"]["esm"] == cli["metrics"]["esm"] and run["steps"] == cli["steps"] == 30
    assert run["losses"].shape == (30, 2) and isinstance(run["params"]["W"], np.ndarray)
    swept = api.sweep({"sigma": [0.3, 1.0], "hidden": "4:6:2"}, seeds=1, steps=10, n_train=40, batch=16)
    assert main(["sweep", "--n-train", "40", "--batch", "16", "--grid", "sigma=0.3,1", "--grid", "hidden=4:6:2",
                 "--seeds", "1", "--steps", "10", "--jobs", "1", "--json", str(tmp_path / "s.json")]) == 0
    capsys.readouterr()
    times = ("wall_seconds", "cpu_seconds")
    drop = lambda runs: [{k: v for k, v in r.items() if k not in times} for r in runs]  # noqa: E731
    assert drop(swept["runs"]) == drop(json.loads((tmp_path / "s.json").read_text())["runs"])


def test_bad_values_are_one_line_errors(tmp_path):
    for call, words in ((lambda: api.setup(sigma=-1), "sigma"), (lambda: api.train(steps=-1), "steps"),
                        (lambda: api.sweep({"hidden": "8,x"}), "not a whole number"),
                        (lambda: api.compare(objectives=["dsm", "nope"]), "nope")):
        with pytest.raises(api.UserError, match=words) as info:
            call()
        assert "\n" not in str(info.value)
    (tmp_path / "r.jsonl").write_text("x\n")
    with pytest.raises(api.UserError, match="resume=True"):
        api.sweep({"sigma": [0.3]}, out=str(tmp_path / "r.jsonl"), steps=1, **SMALL)
