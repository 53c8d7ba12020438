"""Random setups and random bad values thrown at `smtui` (in-process) and at the experiment
loader: never a traceback, only exit status 0, 2 or 3, and a refusal is one line."""

import contextlib
import io
import sys
import tomllib
import types
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import Config
from core.distributions import NAMES
from core.errors import UserError
from core.experiment import load_config, load_experiment, save_experiment
from core.trainer import Trainer
from tui.cli import main

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NUMBERS = ["0", "-1", "1", "2", "1e-4", "0.3", "1e3", "nan", "inf", "-inf", "1e400", "abc", "", "3.5", "2e8",
           "9223372036854775808", "1_0", "0x10", "--"]
VALUES = {
    "--distribution": ["ring8", "moons", "gaussian", "nope", "", "RING8"],
    "--objective": ["dsm", "ism", "ism-reg", "esm", "esm-sigma", "ism-sigma", "dae", "magic"],
    "--optimizer": ["adam", "momentum", "sgd", "lbfgs"],
    "--dtype": ["float64", "float32", "float16"],
    "--sigma": NUMBERS, "--lr": NUMBERS, "--lambda": NUMBERS,
    "--batch": ["1", "7", "32", "0", "-3", "2.5", "x", "1000001"],
    "--hidden": ["1", "4", "9", "0", "2049", "1.5"],
    "--n-train": ["1", "2", "40", "0", "-1", "q"],
    "--seed": ["0", "7", "-1", "9223372036854775807", "9223372036854775808", "s"],
    "--eval-every": ["1", "3", "0", "x"],
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Data and experiment files, good and bad, shared by every example."""
    d = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(0)
    np.savetxt(d / "good.csv", rng.normal(size=(30, 2)), delimiter=",")
    np.savetxt(d / "one.csv", [[1.0, 2.0]], delimiter=",")
    np.savetxt(d / "d1.csv", rng.normal(size=(20, 1)), delimiter=",")
    np.savetxt(d / "d3.csv", rng.normal(size=(20, 3)), delimiter=",")
    (d / "ragged.csv").write_text("1,2\n3\n")
    (d / "words.csv").write_text("a,b\nc,d\n")
    (d / "bin.csv").write_bytes(bytes(range(256)))
    np.save(d / "obj.npy", np.array([{"a": 1}], dtype=object))
    t = Trainer(Config(n_train=24, hidden=4, batch=8, eval_every=2))
    t.train(3)
    save_experiment(t, d / "exp.toml")
    (d / "broken.toml").write_text("format = [\n")
    (d / "setup.toml").write_text((d / "exp.toml").read_text().split("[run]")[0])
    (d / "out").mkdir()
    return d


def _path_values(d: Path) -> dict:
    data = [str(d / n) for n in ("good.csv", "one.csv", "d1.csv", "d3.csv", "ragged.csv", "words.csv",
                                 "bin.csv", "obj.npy", "missing.csv")] + [str(d)]
    exps = [str(d / n) for n in ("exp.toml", "broken.toml", "setup.toml", "missing.toml", "good.csv")]
    return {"--data": data, "--config": exps, "--load": exps,
            "--json": ["-", str(d / "out" / "r.json"), str(d / "nodir" / "r.json"), str(d)],
            "--save": [str(d / "out" / "new.toml"), str(d / "exp.toml"), str(d / "out" / "x.json")]}


def _call(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    fake_app = types.ModuleType("tui.app")
    fake_app.run_app = lambda config, experiment=None: 0  # the app itself is tested elsewhere
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "tui.app", fake_app)
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse refusals and --help
            code = exc.code
    return code, err.getvalue()


RUN_ONLY = ("--json", "--save")


@st.composite
def argvs(draw, paths: dict):
    mode = draw(st.sampled_from(["run", "run", "run", "app", "list"]))
    options = {k: v for k, v in {**VALUES, **paths}.items() if mode == "run" or k not in RUN_ONLY}
    chosen = draw(st.lists(st.sampled_from(sorted(options)), max_size=5, unique=True))
    args = []
    for flag in chosen:
        args += [flag, draw(st.sampled_from(options[flag]))]
    extra = draw(st.sampled_from([None, None, None, "--force", "--bogus", "extra"]))
    args += [extra] if extra else []
    if mode == "list":
        return ["list", *args[:1]]
    if mode == "app":
        return args
    # Small unless the draw says otherwise (the last value of a flag wins): the fuzz is
    # about input handling, not training. A resumed experiment is small already.
    steps = draw(st.sampled_from(["0", "2", "5", "-1", "x"]))
    small = [] if "--load" in chosen else ["--n-train", "24", "--hidden", "4", "--batch", "8"]
    return ["run", "--steps", steps, *small, *args]


@FUZZ
@given(data=st.data())
def test_cli_never_tracebacks(files, data):
    argv = data.draw(argvs(_path_values(files)))
    code, err = _call(argv)
    assert code in (0, 2, 3), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1, (argv, err)
    (files / "out" / "new.toml").unlink(missing_ok=True)  # so --save without --force can succeed again


GOOD = {
    "--distribution": list(NAMES), "--objective": ["dsm", "ism", "ism-reg", "esm-sigma", "ism-sigma", "dae"],
    "--optimizer": ["adam", "momentum", "sgd"], "--dtype": ["float64", "float32"],
    "--sigma": ["1e-8", "1e-4", "0.05", "0.3", "2", "1e3", "1e8"], "--lr": ["1e-6", "0.01", "0.5", "10", "1e6"],
    "--lambda": ["0", "0.1", "1e6"], "--batch": ["1", "3", "16"], "--hidden": ["1", "3", "16"],
    "--n-train": ["1", "2", "17"], "--seed": ["0", "5", "9223372036854775807"], "--eval-every": ["1", "4", "100"],
}


@FUZZ
@given(data=st.data())
def test_random_valid_setups_train_or_diverge(files, data):
    """Any allowed setup trains (0) or diverges (3) with its JSON written, never refused."""
    chosen = data.draw(st.lists(st.sampled_from(sorted(GOOD)), max_size=6, unique=True))
    args = [x for flag in chosen for x in (flag, data.draw(st.sampled_from(GOOD[flag])))]
    if "--distribution" not in chosen and data.draw(st.booleans()):
        args += ["--data", str(files / data.draw(st.sampled_from(["good.csv", "one.csv", "d1.csv", "d3.csv"])))]
    out = files / "out" / "valid.json"
    out.unlink(missing_ok=True)
    code, err = _call(["run", "--steps", "4", "--n-train", "12", "--hidden", "4", "--batch", "8", *args,
                       "--json", str(out)])
    assert code in (0, 3), (args, code, err)
    assert out.exists() and "Traceback" not in err


SETUP = Config().to_dict() | {"data_path": ""}
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
                 st.text(max_size=8), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                                         st.integers(), max_size=2))


def _toml_safe(v):
    return v is not None and not (isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 2**63)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(drop=st.lists(st.sampled_from(sorted(SETUP)), max_size=2),
       change=st.dictionaries(st.sampled_from(sorted(SETUP) + ["extra", "Sigma"]), JUNK.filter(_toml_safe),
                              max_size=3),
       top=st.dictionaries(st.sampled_from(["format", "version", "run", "other"]), JUNK.filter(_toml_safe),
                           max_size=2))
def test_config_loader_refuses_cleanly(tmp_path_factory, drop, change, top):
    setup = {k: v for k, v in SETUP.items() if k not in drop} | change
    doc = {"format": "smtui-experiment", "version": 1, "setup": setup} | top
    path = tmp_path_factory.mktemp("cfg") / "e.toml"
    path.write_text(tomli_w.dumps(doc))
    tomllib.loads(path.read_text())  # the file itself is valid TOML
    try:
        cfg = load_config(path)
    except UserError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(cfg, Config) and cfg == cfg.validated()
    with contextlib.suppress(UserError):
        load_experiment(path)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(text=st.text(max_size=200))
def test_arbitrary_text_is_refused_in_one_line(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("txt") / "e.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    with pytest.raises(UserError) as info:
        load_config(path)
    assert "\n" not in str(info.value)
