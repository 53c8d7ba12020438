"""core/names.py, the numpy-free list of what a user can choose, agrees with the engine's
own tables: the same names, in the same order, with the same descriptions."""

from smtui.core import distributions, names, objectives, optim
from smtui.core.config import DTYPES, Config


def test_distribution_names_match_the_engine():
    assert tuple(distributions.ANALYTIC) == names.ANALYTIC
    assert tuple(distributions.SAMPLE_ONLY) == names.SAMPLE_ONLY
    assert distributions.NAMES == names.DISTRIBUTIONS == names.ANALYTIC + names.SAMPLE_ONLY
    for name in names.ANALYTIC:  # an analytic one has its exact score
        assert distributions.analytic(name) is not None
    for name in names.SAMPLE_ONLY:
        assert distributions.analytic(name) is None and distributions.sample(name, 5, 0).shape == (5, 2)


def test_objective_names_and_lines_match_the_engine():
    assert tuple(objectives.OBJECTIVES) == tuple(names.OBJECTIVES)
    assert set(objectives._DEFINED) == set(names.OBJECTIVES)  # none defined but unnamed
    for name, o in objectives.OBJECTIVES.items():
        assert o.name == name and o.description == names.OBJECTIVES[name] and o.description
        assert o.needs_analytic == (name in names.NEEDS_ANALYTIC)
    assert set(names.NEEDS_ANALYTIC) <= set(names.OBJECTIVES)


def test_optimizer_and_dtype_names_match_the_engine():
    assert tuple(optim.OPTIMIZERS) == names.OPTIMIZERS
    assert DTYPES == names.DTYPES


def test_config_accepts_exactly_the_listed_names():
    for name in names.DISTRIBUTIONS:
        Config(distribution=name, objective="dsm").validated()
    for name in names.OBJECTIVES:
        Config(objective=name).validated()  # ring8 is analytic: every objective is allowed
    for name in names.OPTIMIZERS:
        Config(optimizer=name).validated()
    for name in names.DTYPES:
        Config(dtype=name).validated()
    for name in names.NEEDS_ANALYTIC:
        try:
            Config(distribution=names.SAMPLE_ONLY[0], objective=name).validated()
        except ValueError as exc:
            assert "analytic" in str(exc)
        else:
            raise AssertionError(f"{name} accepted on sample-only data")
