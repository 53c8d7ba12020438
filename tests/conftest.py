import asyncssh
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


@pytest.fixture
def keys(tmp_path):
    """For the serve tests: (viewer key, stranger key, authorized-keys path listing only the
    viewer, host key path)."""
    viewer, stranger = (asyncssh.generate_private_key("ssh-ed25519") for _ in range(2))
    ak = tmp_path / "authorized_keys"
    ak.write_bytes(viewer.export_public_key())
    return viewer, stranger, ak, tmp_path / "host_key"
