"""The names a user chooses from (distributions, objectives, optimisers, dtypes), with a line
each: plain Python, no numpy, so that the command line can name them in its help and in
`smtui list` without loading the engine. core/distributions.py, core/objectives.py,
core/optim.py and core/config.py take their names from here (tests/core/test_names.py checks
that they agree)."""

from __future__ import annotations

# Gaussian mixtures with an exact score (core/distributions.py), then the sample-only shapes.
ANALYTIC = ("ring8", "ring8w", "gaussian", "bimodal")
SAMPLE_ONLY = ("moons", "circles", "swissroll", "spiral", "checkerboard", "pinwheel")
DISTRIBUTIONS = ANALYTIC + SAMPLE_ONLY

# Objective -> its line in `smtui list` (core/objectives.py; docs/math.md defines each).
OBJECTIVES = {
    "esm": "explicit score matching against the analytic score of q",
    "ism": "implicit score matching on the training set (Hyvarinen 2005)",
    "ism-reg": "ISM plus lambda times the squared Jacobian diagonal (Kingma & LeCun)",
    "esm-sigma": "explicit score matching against the Parzen score of q_sigma",
    "ism-sigma": "implicit score matching on Parzen samples xt ~ q_sigma",
    "dsm": "denoising score matching, target (x - xt) / sigma^2 (the paper's)",
    "dae": "denoising autoencoder, tied weights, linear decoder",
}
# The objectives that need the analytic score of q, hence an ANALYTIC distribution.
NEEDS_ANALYTIC = ("esm",)
# The objectives that train on noisy points x~ = x + sigma eps (the others on D's points).
NOISY = ("esm-sigma", "ism-sigma", "dsm", "dae")

OPTIMIZERS = ("sgd", "momentum", "adam")
DTYPES = ("float64", "float32")
