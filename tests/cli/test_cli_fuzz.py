"""Random setups and random bad values thrown at `smtui` (in-process) and at the experiment
loader: never a traceback, only exit status 0, 2 or 3, a refusal is one short line with no
control character, and no run outlasts RUN_BOUND (a FIFO, a device or a huge file among
the paths would hang or fill memory if read). CI runs FUZZ_EXAMPLES argv examples."""

import contextlib
import io
import os
import signal
import stat
import sys
import tomllib
import types
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtui.core.config import FLOAT32_SIGMA_MIN, Config
from smtui.core.distributions import NAMES
from smtui.core.errors import UserError
from smtui.core.experiment import load_config, load_experiment, save_experiment
from smtui.core.trainer import Trainer
from smtui.tui.cli.flags import LONGEST_MESSAGE
from smtui.tui.cli.main import main

FUZZ_EXAMPLES = 400  # argv examples (the issue asks for at least 300); ~20 s in all
RUN_BOUND = 30.0  # seconds any one command may take (refusals take milliseconds)
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

LONG = "7" * 100_000
NUMBERS = ["0", "-1", "1", "2", "1e-4", "0.3", "1e3", "nan", "inf", "-inf", "1e400", "abc", "", "3.5", "2e8",
           "9223372036854775808", "1_0", "0x10", "--", LONG, "\x1b]0;pwned\x07", "1\n2"]
VALUES = {
    "--distribution": ["ring8", "moons", "gaussian", "nope", "", "RING8", "\x1b[2J", "[bold]x[/bold]", LONG],
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
def files(tmp_path_factory, named_files, retie):
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
    _hostile_files(d, named_files, retie)
    return d


def _hostile_files(d: Path, named_files, retie) -> None:
    """Files that hang, fill memory or print escape codes when read naively (all in tmp)."""
    os.mkfifo(d / "fifo.csv")
    try:
        os.mknod(d / "zero.csv", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # like /dev/zero
    except OSError:
        (d / "zero.csv").symlink_to("fifo.csv")  # no mknod here (not root): another FIFO
    with open(d / "sparse.csv", "wb") as fh:
        fh.truncate(200 * 2**20)
    (d / "loop.csv").symlink_to("loop.csv")
    (d / "longtok.csv").write_text("1,2\n3," + "9x" * 200_000 + "\n")
    (d / "ctrl.csv").write_text("x,y\n1,\x1b]0;pwned\x07\n")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 2)})
    (d / "huge.npy").write_bytes(header.getvalue() + b"\0" * 32)
    for name, broken in (("textnpz", "npz"), ("fifonpz", "npz"), ("fifocsv", "csv"), ("evil", "toml")):
        (d / name).mkdir()
        t = Trainer(Config(n_train=24, hidden=4, batch=8, eval_every=2))
        t.train(3)
        toml = save_experiment(t, d / name / "e.toml")
        target = {"npz": named_files(toml)[0], "csv": named_files(toml)[1], "toml": toml}[broken]
        if name == "textnpz":
            target.write_text("plain text, not a zip\n")
            retie(toml)  # past the checksum, to the reader behind it
        elif name == "evil":
            target.write_text(target.read_text().replace('status = "ok"', 'status = "diverged"').replace(
                'message = ""', 'message = "\\u001b]0;pwned\\u0007\\n[bold]x[/bold]"'))
        else:
            target.unlink()
            os.mkfifo(target)
    os.mkfifo(d / "fifo.toml")


HOSTILE_DATA = ("fifo.csv", "zero.csv", "sparse.csv", "loop.csv", "longtok.csv", "ctrl.csv", "huge.npy")
HOSTILE_EXPS = ("textnpz/e.toml", "fifonpz/e.toml", "fifocsv/e.toml", "evil/e.toml", "fifo.toml", "loop.csv")


def _path_values(d: Path) -> dict:
    data = [str(d / n) for n in ("good.csv", "one.csv", "d1.csv", "d3.csv", "ragged.csv", "words.csv",
                                 "bin.csv", "obj.npy", "missing.csv", *HOSTILE_DATA)] + [str(d), ""]
    exps = [str(d / n) for n in ("exp.toml", "broken.toml", "setup.toml", "missing.toml", "good.csv",
                                 *HOSTILE_EXPS)] + [""]
    return {"--data": data, "--config": exps, "--load": exps,
            "--json": ["-", str(d / "out" / "r.json"), str(d / "nodir" / "r.json"), str(d)],
            "--save": [str(d / "out" / "new.toml"), str(d / "exp.toml"), str(d / "out" / "x.json")]}


class OverBound(Exception):
    """A command ran longer than RUN_BOUND: a hang (or a read that never ends)."""


def _over_bound(signum, frame):
    raise OverBound(f"a run took more than {RUN_BOUND:g} s")


def _call(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    fake_app = types.ModuleType("smtui.tui.app")
    fake_app.run_app = lambda config, experiment=None, files=True, **_: 0  # the app itself is tested elsewhere
    previous = signal.signal(signal.SIGALRM, _over_bound)
    signal.setitimer(signal.ITIMER_REAL, RUN_BOUND)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                pytest.MonkeyPatch.context() as mp:
            mp.setitem(sys.modules, "smtui.tui.app", fake_app)
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse refusals and --help
                code = exc.code
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    for text in (out.getvalue(), err.getvalue()):
        assert "\x1b" not in text and "\x07" not in text, (argv, text[:200])  # escape codes never printed raw
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
        assert len(lines[0]) <= LONGEST_MESSAGE + 60, (argv, err[:300])  # quoted input is cut short
    (files / "out" / "new.toml").unlink(missing_ok=True)  # so --save without --force can succeed again


def test_every_hostile_file_is_refused_quickly_in_one_line(files):
    """Each hostile file through each flag that reads one, in `run` and in the app's start."""
    small = ["--n-train", "24", "--hidden", "4", "--batch", "8"]
    cases = [(["run", "--steps", "0", *small, "--data", str(files / n)], n) for n in HOSTILE_DATA]
    cases += [(["--data", str(files / n)], n) for n in HOSTILE_DATA]
    for n in HOSTILE_EXPS:
        cases += [(["run", "--steps", "0", flag, str(files / n)], n) for flag in ("--load", "--config")]
        cases += [(["--load", str(files / n)], n)]
    for argv, n in cases:
        code, err = _call(argv)
        if n == "evil/e.toml" and "--config" not in argv:  # loads: a diverged run, its message escaped
            assert code in (0, 3) and ("\\x1b]0;pwned\\x07" in err or code == 0), (argv, err)
            continue
        if "--config" in argv and "/" in n:  # --config reads only the TOML, which is intact
            assert code == 0, (argv, err)
            continue
        assert code == 2 and len(err.strip().splitlines()) == 1 and len(err) < 400, (argv, err[:300])


GOOD = {
    "--distribution": list(NAMES), "--objective": ["dsm", "ism", "ism-reg", "esm-sigma", "ism-sigma", "dae"],
    "--optimizer": ["adam", "momentum", "sgd"], "--dtype": ["float64", "float32"],
    "--sigma": ["1e-8", "1e-4", "0.05", "0.3", "2", "1e3", "1e8"], "--lr": ["1e-6", "0.01", "0.5", "10", "1e6"],
    "--lambda": ["0", "0.1", "1e6"], "--batch": ["1", "3", "16"], "--hidden": ["1", "3", "16"],
    "--n-train": ["1", "2", "17"], "--seed": ["0", "5", "9223372036854775807"], "--eval-every": ["1", "4", "100"],
}


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_random_valid_setups_train_or_diverge(files, data):
    """Any allowed setup trains (0) or diverges (3) with its JSON written, never refused;
    but float32 below its sigma floor is refused up front, saying why (issue 9 cause 14)."""
    chosen = data.draw(st.lists(st.sampled_from(sorted(GOOD)), max_size=6, unique=True))
    args = [x for flag in chosen for x in (flag, data.draw(st.sampled_from(GOOD[flag])))]
    if "--distribution" not in chosen and data.draw(st.booleans()):
        args += ["--data", str(files / data.draw(st.sampled_from(["good.csv", "one.csv", "d1.csv", "d3.csv"])))]
    out = files / "out" / "valid.json"
    out.unlink(missing_ok=True)
    code, err = _call(["run", "--steps", "4", "--n-train", "12", "--hidden", "4", "--batch", "8", *args,
                       "--json", str(out)])
    given_ = dict(zip(args[::2], args[1::2]))
    if given_.get("--dtype") == "float32" and float(given_.get("--sigma", 0.3)) < FLOAT32_SIGMA_MIN:
        assert code == 2 and "float32 needs sigma" in err and not out.exists(), (args, code, err)
        return
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
