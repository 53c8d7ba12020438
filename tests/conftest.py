import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_params(rng, d, h, scale=1.0):
    """A generic theta (not the init): weights of order one, random biases and c."""
    return {
        "W": scale * rng.normal(0.0, 1.0, (h, d)),
        "b": rng.normal(0.0, 1.0, h),
        "c": rng.normal(0.0, 0.5, d),
    }
