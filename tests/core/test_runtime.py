"""Process settings: applied where possible, and the user's environment wins."""

from smtui.core import runtime


def test_tune_process_reports_and_is_idempotent():
    first = runtime.tune_process()
    assert runtime.tune_process() == first
    assert all(isinstance(v, bool) for v in first)


def test_blas_threads_left_alone_when_the_user_chose(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert runtime.limit_blas_threads() is False
