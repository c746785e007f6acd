"""Peer adapters (zoo/peers): registry, errors, and, where the peers are installed, physics checks."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from unihub.zoo import peers
from unihub.zoo.peers import PEERS, PeerChecksumError, PeerUnavailable, peer_available, peer_calculator, peer_info

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(PEERS)

# CHGNet's own forward pass trips a torch warning on every call; it is not ours to fix.
# sevenn builds its model with torch.jit.script, which torch now flags as deprecated.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad"),
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning"),
]


def _needs(name: str):
    return pytest.mark.skipif(
        not peer_available(name),
        reason=f"peer {name!r} is not installed ({PEERS[name].distribution}); "
        "run `bash .ci/install_peers.sh` or `pip install 'unihub[peers]'`",
    )


installed = [pytest.param(n, marks=_needs(n)) for n in NAMES]


def test_registry_names():
    assert set(PEERS) == {"chgnet", "sevennet-0"}
    for name, spec in PEERS.items():
        assert spec.name == name


@pytest.mark.parametrize("fn", [peer_calculator, peer_info, peer_available])
def test_unknown_name_suggests_close_match(fn):
    with pytest.raises(ValueError, match=r"unknown peer 'chgnt'; did you mean 'chgnet'\?"):
        fn("chgnt")
    with pytest.raises(ValueError, match="did you mean 'sevennet-0'"):
        fn("sevennet0")
    with pytest.raises(ValueError, match="known peers: chgnet, sevennet-0"):
        fn("mace-mp-0")


def test_names_are_case_insensitive():
    assert peer_info("CHGNet")["name"] == "chgnet"


@pytest.mark.parametrize("name", NAMES)
def test_info_without_loading(name):
    info = peer_info(name)
    for key in (
        "package",
        "package_version",
        "model_revision",
        "checkpoint",
        "checkpoint_sha256",
        "training_data",
        "functional",
        "energy_reference",
    ):
        assert key in info
    assert "MPtrj" in info["training_data"] and "PBE" in info["functional"]
    assert len(info["checkpoint_sha256"]) == 64
    assert info["units"]["stress"].startswith("eV/Å³")


def test_energy_references_differ():
    assert "MP2020" in peer_info("chgnet")["energy_reference"]
    assert "raw" in peer_info("sevennet-0")["energy_reference"]


@pytest.mark.parametrize("name", NAMES)
def test_missing_package_raises_peer_unavailable(name, monkeypatch):
    # A None entry in sys.modules is how Python spells "this import is blocked".
    monkeypatch.setitem(sys.modules, PEERS[name].module, None)
    assert not peer_available(name)
    assert peer_info(name)["package_version"] is None
    with pytest.raises(PeerUnavailable) as err:
        peer_calculator(name)
    assert isinstance(err.value, ImportError)
    msg = str(err.value)
    assert PEERS[name].distribution in msg
    assert "pip install 'unihub[peers]'" in msg and ".ci/install_peers.sh" in msg


@pytest.mark.parametrize("name", installed)
def test_missing_weights_raise_peer_unavailable(name, monkeypatch):
    # chgnet==0.3.0 on PyPI is such a package: importable, but without its pretrained weights.
    spec = dataclasses.replace(PEERS[name], checkpoint_relpath="pretrained/absent.pth")
    monkeypatch.setitem(PEERS, name, spec)
    assert not peer_available(name)
    with pytest.raises(PeerUnavailable, match="does not ship the weights absent.pth"):
        peer_calculator(name)


@pytest.mark.parametrize("name", installed)
def test_checksum_mismatch_is_refused(name, monkeypatch):
    monkeypatch.setitem(PEERS, name, dataclasses.replace(PEERS[name], checkpoint_sha256="0" * 64))
    with pytest.raises(PeerChecksumError, match="expected 0000"):
        peer_calculator(name)


def test_import_has_no_side_effects():
    code = (
        "import sys, warnings; before = list(warnings.filters); import unihub.zoo.peers; "
        "print(sorted(m for m in ('torch', 'chgnet', 'sevenn', 'e3nn') if m in sys.modules), "
        "warnings.filters == before)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "True"]


@pytest.mark.parametrize("name", [pytest.param("chgnet", marks=_needs("chgnet"))])
def test_building_keeps_global_warning_filters(name):
    # pymatgen, scipy, ruamel (under chgnet) add global filters on import; the adapter keeps them local.
    code = (
        "import warnings, torch, ase.io; before = list(warnings.filters); "
        f"from unihub.zoo.peers import peer_calculator; peer_calculator({name!r}); "
        "print(warnings.filters == before)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "True"


def test_num_threads_validated():
    spec = PEERS["chgnet"]
    if not peer_available("chgnet"):
        pytest.skip(f"peer 'chgnet' is not installed ({spec.distribution})")
    with pytest.raises(ValueError, match="num_threads"):
        peer_calculator("chgnet", num_threads=0)


# ---- with the peers installed -------------------------------------------------------------

_calcs: dict[str, object] = {}


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Peers run on one thread here (2 cores, shared with other tests); restore afterwards."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _calc(name):
    if name not in _calcs:
        _calcs[name] = peer_calculator(name)
    return _calcs[name]


@pytest.mark.parametrize("name", installed)
def test_num_threads_is_set_on_request_only(name, monkeypatch):
    import torch

    built = []
    stub = dataclasses.replace(PEERS[name], build=lambda path, device: built.append((path, device)))
    monkeypatch.setitem(PEERS, name, stub)
    assert torch.get_num_threads() == 1
    peer_calculator(name)
    assert torch.get_num_threads() == 1
    try:
        peer_calculator(name, num_threads=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    assert [d for _, d in built] == ["cpu", "cpu"] and built[0][0] == PEERS[name].checkpoint_path()


def _si(a: float = 5.43, rattle: float = 0.0):
    from ase.build import bulk

    atoms = bulk("Si", "diamond", a=a, cubic=True)
    if rattle:
        atoms.rattle(rattle, seed=1)
    return atoms


def _energy(atoms, calc) -> float:
    atoms = atoms.copy()
    atoms.calc = calc
    return float(atoms.get_potential_energy())


@pytest.mark.parametrize("name", installed)
def test_info_reports_installed_version(name):
    info = peer_info(name)
    assert info["package_version"] == PEERS[name].tested_version


@pytest.mark.parametrize("name", installed)
def test_finite_energy_forces_stress(name):
    atoms = _si(rattle=0.05)
    atoms.calc = _calc(name)
    e = atoms.get_potential_energy()
    f = atoms.get_forces()
    s = atoms.get_stress()
    assert np.isfinite(e) and -6.0 < e / len(atoms) < -4.0  # ~ -5.3 eV/atom for Si in PBE/MP
    assert f.shape == (8, 3) and np.isfinite(f).all() and np.abs(f).max() > 0.05
    assert s.shape == (6,) and np.isfinite(s).all()
    assert np.abs(f.sum(axis=0)).max() < 1e-3  # no net force


@pytest.mark.parametrize("name", installed)
def test_stress_sign_compressed_and_stretched(name):
    calc = _calc(name)
    for a, sign in ((5.2, -1.0), (5.7, 1.0)):  # equilibrium is ~5.45 Å
        atoms = _si(a=a)
        atoms.calc = calc
        s = atoms.get_stress()
        assert (np.sign(s[:3]) == sign).all(), (a, s)
        assert np.abs(s[3:]).max() < 1e-5
    # 5.2 Å is ~14 % volume compression: tens of GPa, i.e. ~0.1 eV/Å³, not GPa or kbar numbers.
    atoms = _si(a=5.2)
    atoms.calc = calc
    assert 0.03 < -atoms.get_stress()[0] < 0.3


@pytest.mark.parametrize("name", installed)
def test_forces_are_minus_energy_gradient(name):
    calc = _calc(name)
    atoms = _si(rattle=0.05)
    atoms.calc = calc
    forces = atoms.get_forces()
    h = 5e-3
    for i, k in ((0, 0), (3, 1), (5, 2), (7, 0)):
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, k] += h
        minus.positions[i, k] -= h
        fd = -(_energy(plus, calc) - _energy(minus, calc)) / (2 * h)
        assert forces[i, k] == pytest.approx(fd, rel=0.02, abs=0.02), (i, k)


@pytest.mark.parametrize("name", installed)
def test_stress_is_energy_strain_derivative(name):
    calc = _calc(name)
    atoms = _si(rattle=0.05)
    atoms.calc = calc
    stress = atoms.get_stress()  # Voigt: xx yy zz yz xz xy
    volume = atoms.get_volume()
    eps = 2e-3
    for v, (r, c) in enumerate(((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))):
        energies = []
        for sgn in (1, -1):
            strain = np.zeros((3, 3))
            strain[r, c] += sgn * eps / (1 if r == c else 2)
            strain[c, r] += 0 if r == c else sgn * eps / 2
            strained = atoms.copy()
            strained.set_cell(atoms.cell[:] @ (np.eye(3) + strain), scale_atoms=True)
            energies.append(_energy(strained, calc))
        fd = (energies[0] - energies[1]) / (2 * eps) / volume
        assert stress[v] == pytest.approx(fd, rel=0.03, abs=3e-4), (v, stress, fd)


def test_peers_module_exports():
    assert peers.INSTALL_HINT.startswith("pip install 'unihub[peers]'")
