import pytest
from lmp_testlib import _REASON, random_model, sw_fitted_si


@pytest.fixture(scope="session")
def plugin():
    if _REASON is not None:
        pytest.skip(_REASON)
    from unihub.finetune.mtp.lammps import build_plugin

    return build_plugin()


@pytest.fixture(scope="session")
def si16(tmp_path_factory):
    m = random_model(16, ["Si"], seed=3)
    path = tmp_path_factory.mktemp("mtp") / "si16.mtp"
    m.save(path)
    return m, path


@pytest.fixture(scope="session")
def sigec(tmp_path_factory):
    """Three species, file order Si, Ge, C."""
    m = random_model(12, ["Si", "Ge", "C"], seed=4)
    path = tmp_path_factory.mktemp("mtp") / "sigec.mtp"
    m.save(path)
    return m, path


@pytest.fixture(scope="session")
def si_fitted(tmp_path_factory, plugin):
    from unihub.finetune.mtp import MTPModel

    path = sw_fitted_si(tmp_path_factory.mktemp("mtp") / "si_sw.mtp")
    return MTPModel.load(path), path
