import pytest
from mtp_testlib import random_model


@pytest.fixture(scope="session")
def model16():
    return random_model(16, ["Si", "Ge"], seed=1)
