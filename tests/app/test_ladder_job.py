"""The ladder screen's job (tui/runner/ladder_job.py) on the one runner, in a thread: its phases
in order, what it reports against the engine run directly (the same walks, the same clouds,
put back together from reports that carry each cloud once), and its commands."""

import threading
import time

import numpy as np
import pytest

from smtui.core.config import Config
from smtui.core.ladder_run import LadderRun, LadderSetup
from smtui.tui.runner.ladder_job import LadderJob, LadderReport, NextRung, Resample, ShowRung, WalkView
from smtui.tui.runner.protocol import Configure, Grid, Train
from smtui.tui.runner.runner import Runner

SMALL = LadderSetup(Config(distribution="ring8w", n_train=128, hidden=16, seed=3), levels=5, steps=200,
                    steps_per_level=6, particles=150)


class Watch:
    """A runner of the job in a thread, and every report it received, in order."""

    def __init__(self, setup=SMALL):
        self.reports, self.notices, self.event = [], [], threading.Event()
        self.runner = Runner(LadderJob, setup, on_report=self._report, on_notice=self.notices.append,
                             on_stopped=lambda why: self.notices.append(why), mode="thread")
        self.runner.start()

    def _report(self):
        r = self.runner.take_latest()
        if isinstance(r, LadderReport):
            self.reports.append(r)
        self.event.set()

    def until(self, condition, timeout=60.0):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.reports and condition(self.reports[-1]):
                return self.reports[-1]
            self.event.wait(0.1)
            self.event.clear()
        raise AssertionError(f"timed out; last phase {self.reports[-1].snapshot.phase if self.reports else None}")

    def close(self):
        self.runner.close()


@pytest.fixture
def watch():
    made = []

    def make(setup=SMALL):
        made.append(Watch(setup))
        return made[-1]

    yield make
    for w in made:
        w.close()


def _done(r):
    return r.snapshot.phase == "done" and not r.training


def test_it_trains_checks_walks_and_measures_as_the_engine_does(watch):
    w = watch()
    w.runner.send(Grid((40, 12)))
    w.runner.send(Train())
    last = w.until(_done)
    phases = [r.snapshot.phase for r in w.reports]
    order = ["training", "checking", "sampling", "measuring", "done"]
    seen = [p for i, p in enumerate(phases) if i == 0 or p != phases[i - 1]]
    assert [p for p in seen if p in order] == [p for p in order if p in seen] and seen[-1] == "done"
    snap = last.snapshot
    engine = LadderRun(SMALL)
    engine.train(SMALL.steps)
    walk = engine.walk(tag=8)  # the job's first round, learned source
    walk.run()
    job_walk = snap.walks[("learned", "ladder")]
    np.testing.assert_array_equal(job_walk.x, walk.x.astype(np.float32))
    assert len(job_walk.clouds) == 5  # each sent once, put back together on this side
    for mine, theirs in zip(job_walk.clouds, walk.clouds):
        np.testing.assert_array_equal(mine, theirs.astype(np.float32))
    assert job_walk.metrics["weight_tv"] == pytest.approx(engine.measure(walk.x)["weight_tv"])
    assert set(snap.walks) == {(s, k) for s in ("learned", "exact") for k in ("ladder", "small", "large")}
    assert snap.walks[("exact", "small")].sigmas == (pytest.approx(0.05),)
    assert [row["identity"]["verdict"] for row in snap.per_level] == [engine.identity(k)["verdict"] for k in range(5)]
    assert all(row["mmd2"] is not None and row["exact_mmd2"] is not None for row in snap.per_level)
    assert snap.field is not None and snap.exact_field is not None and snap.target_weights == pytest.approx(
        [3 / 16, 1 / 16] * 4)


def test_a_report_that_acknowledges_a_command_shows_what_it_did(watch):
    """The report sent while a command is handled (busy: the ladder set up again) does not
    acknowledge it yet: a screen takes the setup of a report that acknowledges its last command
    as its own, and two quick presses of > gave one rung more, not two."""
    w = watch()
    w.until(lambda r: not r.busy)
    for levels in (6, 7):
        w.runner.send(Configure({"levels": levels}))
        w.until(lambda r: r.acked >= w.runner.sent and not r.busy)
        acks = [r for r in w.reports if r.acked >= w.runner.sent]
        assert any(r.busy for r in w.reports)  # the set-up said so while it ran
        assert [(r.snapshot.setup.levels, len(r.snapshot.sigmas)) for r in acks] == [(levels, levels)] * len(acks)


def test_reports_carry_each_cloud_once_and_received_puts_them_together(ladder_snapshot):
    x = np.zeros((2, 2), np.float32)
    view = lambda clouds, start: WalkView("learned", "ladder", (1.0,), 0, 1.0, 0, 1, x,  # noqa: E731
                                          tuple(np.full((2, 2), c, np.float32) for c in clouds), start)
    first = LadderReport(snapshot=ladder_snapshot({("learned", "ladder"): view([0, 1], 0)}))
    second = LadderReport(snapshot=ladder_snapshot({("learned", "ladder"): view([2], 2)}))
    got = second.received(first.received(None)).snapshot.walks[("learned", "ladder")]
    assert [float(c[0, 0]) for c in got.clouds] == [0.0, 1.0, 2.0] and got.clouds_from == 0


def test_next_rung_walks_to_the_end_of_a_rung_and_pauses_and_resample_starts_a_new_round(watch):
    w = watch()
    w.runner.send(Train())
    w.until(lambda r: r.snapshot.phase == "sampling")
    w.runner.send(NextRung())
    r = w.until(lambda r: r.acked >= w.runner.sent and not r.training and r.snapshot.walks)
    walk = r.snapshot.walks[("learned", "ladder")]
    assert len(walk.clouds) >= 1 and walk.done == len(walk.clouds) * SMALL.steps_per_level
    w.runner.send(Train())
    w.until(_done)
    first_round = w.reports[-1].snapshot.round
    w.runner.send(Resample())
    w.runner.send(Train())
    r = w.until(lambda r: r.snapshot.round > first_round and _done(r))
    assert r.snapshot.walks[("learned", "ladder")].x.shape == (150, 2)


def test_configure_rebuilds_the_ladder_or_only_resamples_and_show_rung_moves_the_field(watch):
    w = watch()
    w.runner.send(Grid((30, 10)))
    w.runner.send(Train())
    w.until(_done)
    w.runner.send(Configure({"sampler": "ode"}))
    w.runner.send(ShowRung(0))
    w.runner.send(Train())
    r = w.until(lambda r: r.acked >= w.runner.sent and _done(r))
    assert r.snapshot.setup.sampler == "ode" and r.snapshot.step == SMALL.steps and r.snapshot.field_rung == 0
    w.runner.send(Configure({"levels": 3, "config": {"distribution": "ring8"}}))
    w.runner.send(Train())
    r = w.until(lambda r: r.acked >= w.runner.sent and _done(r))
    assert len(r.snapshot.sigmas) == 3 and r.snapshot.setup.config.distribution == "ring8"
    assert len(r.snapshot.walks[("learned", "ladder")].clouds) == 3
    w.runner.send(Configure({"levels": 0}))
    w.until(lambda r: r.acked >= w.runner.sent)  # the refusal comes before the report that acknowledges it
    assert any("levels" in n.text for n in w.notices if hasattr(n, "text"))


class QuietLoop:
    """The loop as a job sees it, saying nothing (the job's own methods driven by hand)."""

    def busy(self, what):
        pass

    def new_pace(self):
        pass

    def say(self, *args):
        pass

    def pause(self):
        pass


def test_the_job_sends_each_cloud_in_one_report_only():
    job = LadderJob(SMALL, QuietLoop())
    job.advance(10**6)  # trains to the setup's steps
    assert job.phase == "checking"
    job.advance(1)
    job.advance(SMALL.steps_per_level + 1)  # one rung left, one step into the next
    first = job.report(True).snapshot.walks[("learned", "ladder")]
    assert first.clouds_from == 0 and len(first.clouds) == 1
    again = job.report(True).snapshot.walks[("learned", "ladder")]
    assert again.clouds_from == 1 and again.clouds == ()
    job.advance(SMALL.steps_per_level)
    later = job.report(True).snapshot.walks[("learned", "ladder")]
    assert later.clouds_from == 1 and len(later.clouds) == 1
