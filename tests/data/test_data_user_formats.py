"""User files through ``read_frames``: format guessing, ASE formats, MPtrj layout, bad input."""

from __future__ import annotations

import gzip
import io
import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms

from unihub.foundation.data import read_frames
from unihub.foundation.data.readers import guess_format
from unihub.foundation.data.readers.mptrj import iter_object_items

KBAR = 1 / 1602.1766208


def labelled(atoms: Atoms, seed: int) -> Atoms:
    rng = np.random.default_rng(seed)
    atoms = atoms.copy()
    atoms.rattle(0.05, seed=seed)
    atoms.calc = SinglePointCalculator(atoms, energy=-3.0 * len(atoms) + rng.normal(),
                                       forces=rng.normal(size=(len(atoms), 3)), stress=rng.normal(size=6) * 1e-3)
    return atoms


def test_extxyz_round_trip(tmp_path):
    from ase.io import write

    images = [labelled(bulk("Cu", cubic=True), 0), labelled(bulk("NaCl", "rocksalt", a=5.6), 1)]
    write(tmp_path / "mine.xyz", images, format="extxyz")
    frames = read_frames(tmp_path / "mine.xyz", fidelity="pbesol", group_by="formula")
    for f, a in zip(frames, images, strict=True):
        assert f.energy == pytest.approx(a.get_potential_energy())
        assert np.allclose(f.forces, a.get_forces()) and np.allclose(f.stress, a.get_stress(voigt=False))
        assert f.fidelity == "pbesol" and f.dataset == "mine"
    assert [f.group for f in frames] == ["Cu", "ClNa"]


def test_traj_and_db_keep_forces_on_fixed_atoms(tmp_path):
    import ase.db
    from ase.io import Trajectory

    atoms = labelled(bulk("Al", cubic=True), 2)
    forces = atoms.calc.results["forces"].copy()
    atoms.set_constraint(FixAtoms(indices=[0, 1]))
    with Trajectory(tmp_path / "relax.traj", "w") as traj:
        traj.write(atoms)
        traj.write(atoms)
    assert guess_format(tmp_path / "relax.traj") == "ase_traj"
    frames = read_frames(tmp_path / "relax.traj")
    assert len(frames) == 2 and np.allclose(frames[0].forces, forces) and frames[0].forces[0].any()
    assert frames[0].info["fixed"].tolist() == [True, True, False, False] and frames[0].group == "relax"
    with ase.db.connect(tmp_path / "mine.db") as db:
        db.write(atoms, traj_id="run7")
    frames = read_frames(tmp_path / "mine.db", group_key="traj_id")
    assert np.allclose(frames[0].forces, forces) and frames[0].group == "run7"
    assert np.allclose(frames[0].stress, atoms.calc.results["stress"][[0, 5, 4, 5, 1, 3, 4, 3, 2]].reshape(3, 3))


def _mptrj_structure(symbols, frac, a):
    return {"@module": "pymatgen.core.structure", "@class": "Structure", "charge": 0,
            "lattice": {"matrix": [[a, 0, 0], [0, a, 0], [0, 0, a]], "pbc": [True, True, True]},
            "sites": [{"species": [{"element": s, "occu": 1}], "abc": list(p), "xyz": list(np.array(p) * a),
                       "label": s, "properties": {"magmom": 0.5}} for s, p in zip(symbols, frac, strict=True)]}


def mptrj_doc():
    doc = {}
    for k, (mp_id, a) in enumerate((("mp-13", 2.87), ("mp-149", 5.47))):
        doc[mp_id] = {}
        for step in range(2):
            doc[mp_id][f"{mp_id}-{k}-{step}"] = {
                "structure": _mptrj_structure(["Fe", "Fe"], [(0, 0, 0), (0.5, 0.5, 0.5 + 0.01 * step)], a),
                "uncorrected_total_energy": -16.5 + step, "corrected_total_energy": -17.0 + step,
                "energy_per_atom": (-16.5 + step) / 2, "ef_per_atom": 0.0, "e_per_atom_relaxed": -8.3,
                "ef_per_atom_relaxed": 0.0, "force": [[0.1, 0, 0], [-0.1, 0, 0]],
                "stress": [[10.0, 0.5, 0], [0.5, -20.0, 0], [0, 0, 5.0]], "magmom": [2.2, 2.2],
                "bandgap": 0.0, "mp_id": mp_id}
    return doc


@pytest.mark.parametrize("name", ["mptrj.json", "mptrj.json.gz"])
def test_mptrj_layout(tmp_path, name):
    doc = mptrj_doc()
    text = json.dumps(doc, indent=1)
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    assert guess_format(path) == "mptrj"
    frames = read_frames(path)
    assert [f.group for f in frames] == ["mp-13", "mp-13", "mp-149", "mp-149"]
    f = frames[1]
    assert f.energy == -15.5 and f.info["corrected_total_energy"] == -16.0 and f.info["frame_id"] == "mp-13-0-1"
    assert f.forces[0] == pytest.approx([0.1, 0, 0])
    # kbar, compression positive -> eV/Å³, tension positive
    assert f.stress[0, 0] == pytest.approx(-10 * KBAR) and f.stress[1, 1] == pytest.approx(20 * KBAR)
    assert f.stress[0, 1] == pytest.approx(-0.5 * KBAR)
    assert f.positions[1, 2] == pytest.approx(0.51 * 2.87)


def test_streaming_parser_matches_json_load():
    doc = {"a": {"x": [1, 2.5e-3, None, "s\"}"]}, "b": 123456789, "c": {"nested": {"d": [[1, 2], [3]]}}, "e": -1.5}
    text = json.dumps(doc, indent=2)
    for chunk in (1, 3, 7, 64, 1 << 20):
        assert dict(iter_object_items(io.StringIO(text), chunk=chunk)) == doc
    with pytest.raises(ValueError):
        list(iter_object_items(io.StringIO("[1, 2]")))


def test_fitsnap_single_file_is_guessed(tmp_path):
    path = tmp_path / "Volume" / "cfg_1.json"
    path.parent.mkdir()
    path.write_text('# header\n{"Dataset": {"StressStyle": "bar", "Data": [{"AtomTypes": ["W"], '
                    '"Lattice": [[3, 0, 0], [0, 3, 0], [0, 0, 3]], "Positions": [[0, 0, 0]], "Energy": -12.0, '
                    '"Forces": [[0, 0, 0]], "Stress": [[1000, 0, 0], [0, 1000, 0], [0, 0, 1000]]}]}}')
    assert guess_format(path) == "fitsnap_json"
    (f,) = read_frames(path)
    assert f.group == "Volume" and f.stress[0, 0] == pytest.approx(-1000 * KBAR / 1000)
    path.write_text(path.read_text().replace('"StressStyle": "bar"', '"StressStyle": "bar", "EnergyStyle": "kcal/mol"'))
    with pytest.raises(ValueError, match="EnergyStyle"):
        read_frames(path)


def test_bad_input_is_refused_with_its_location(tmp_path):
    from ase.io import write

    atoms = labelled(bulk("Cu", cubic=True), 3)
    atoms.positions[2, 1] = np.nan
    write(tmp_path / "bad.xyz", [labelled(bulk("Cu"), 4), atoms], format="extxyz")
    with pytest.raises(ValueError, match=r"bad.xyz\[1\].*NaN"):
        read_frames(tmp_path / "bad.xyz")
    rec = {"structure": _mptrj_structure(["Xx"], [(0, 0, 0)], 3.0), "outputs": {"energy": -1.0}}
    (tmp_path / "bad.json").write_text(json.dumps([rec]))
    with pytest.raises(ValueError, match="unknown element symbol 'Xx'"):
        read_frames(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="fidelity 'b3lyp'"):
        read_frames(tmp_path / "bad.xyz", fidelity="b3lyp")


def test_a_card_file_read_by_format_gives_the_cards_frames(shared_data, dataset):
    """One reader path: mlearn's Mo test file read directly equals the same file read through its card."""
    import numpy as np

    from unihub.foundation.data import read_frames

    card_frames = [f for f in dataset("mlearn") if f.group.startswith("Mo/")]
    path = shared_data / "train" / "mlearn" / "Mo" / "test.json"
    direct = read_frames(path)
    by_format = read_frames(path, format="mlearn_json")
    assert len(direct) == len(by_format) > 0
    for a, b in zip(direct, by_format, strict=True):
        np.testing.assert_allclose(a.stress, b.stress)  # the card's per-element shear order, either way
        assert a.fidelity == "pbe" and a.dataset == "mlearn"
    stresses = {tuple(np.round(f.positions[0], 6)): f.stress for f in card_frames}
    hits = [f for f in direct if tuple(np.round(f.positions[0], 6)) in stresses]
    assert hits and all(np.allclose(f.stress, stresses[tuple(np.round(f.positions[0], 6))]) for f in hits)
