"""MTP students load through the zoo and answer the same calls as every model."""

import numpy as np
from ase.build import bulk

from unihub.zoo import load_model


def test_student_file_and_folder_round_trip(tmp_path):
    from unihub.finetune.mtp import MTPModel

    mtp = MTPModel.from_level(8, ["Si", "Ge"], seed=1)
    rng = np.random.default_rng(0)
    mtp.params.moment_coeffs = rng.normal(0, 0.1, len(mtp.params.moment_coeffs))
    mtp.params.species_coeffs = np.array([-4.0, -3.5])
    mtp.save(tmp_path / "si.mtp")
    s = load_model(tmp_path / "si.mtp")
    atoms = bulk("Si", "diamond", 5.43) * (2, 1, 1)
    atoms.numbers[1] = 32
    atoms.rattle(0.03, seed=2)
    ref = mtp.predict([atoms])[0]
    got = s.predict([atoms])[0]
    assert got["energy"] == ref["energy"] and np.isfinite(got["energy"])
    atoms.calc = s.calculator()
    np.testing.assert_allclose(atoms.get_forces(), ref["forces"], atol=1e-10)
    folder = s.save(tmp_path / "student", card={"title": "Si-Ge student", "tags": ["unihub", "mtp"]})
    back = load_model(folder)
    assert back.mtp.elements == ["Si", "Ge"] and back.card["title"] == "Si-Ge student"
    assert back.predict([atoms])[0]["energy"] == ref["energy"]
    # the revision pins the coefficients: the same student after a round trip, another one after a change
    from unihub.foundation.files import state_digest

    assert state_digest(back) == state_digest(s)
    mtp.params.moment_coeffs = mtp.params.moment_coeffs + 1e-9
    (other,) = mtp.save(tmp_path / "other.mtp")
    assert state_digest(load_model(other)) != state_digest(s)


def test_standard_mtp_file_loads_with_elements(tmp_path):
    """A plain MLIP-2 file names no elements: load_model(path, elements=[...]) supplies them, in type order."""
    import pytest

    from unihub.finetune.mtp import MTPModel

    mtp = MTPModel.from_level(8, ["Si", "Ge"], seed=1)
    mtp.save(tmp_path / "tagged.mtp")
    text = (tmp_path / "tagged.mtp").read_text()
    plain = "\n".join(line for line in text.splitlines() if not line.startswith("potential_tag"))
    (tmp_path / "plain.mtp").write_text(plain + "\n")
    with pytest.raises(ValueError, match="elements"):
        load_model(tmp_path / "plain.mtp").predict([bulk("Si", "diamond", 5.43)])
    s = load_model(tmp_path / "plain.mtp", elements=["Si", "Ge"])
    assert s.mtp.elements == ["Si", "Ge"] and s.verified is False
    with pytest.raises(ValueError, match="names elements"):
        load_model(tmp_path / "tagged.mtp", elements=["Ge", "Si"])


def test_student_with_a_core_keeps_it_through_its_folder(tmp_path):
    """The core table travels with the student: saved and checksummed in its folder, loaded back, and part of
    what pins the student."""
    import json

    from unihub.finetune.mtp import MTPModel
    from unihub.finetune.mtp.repulsion import CoreRepulsion
    from unihub.finetune.mtp.student import load_student
    from unihub.foundation.files import state_digest

    mtp = MTPModel.from_level(8, ["Si", "Ge"], seed=1)
    mtp.params.moment_coeffs = np.random.default_rng(0).normal(0, 0.1, len(mtp.params.moment_coeffs))
    plain = load_student(mtp.save(tmp_path / "plain.mtp")[0])
    mtp.core = CoreRepulsion(("Si", "Ge"), np.full((2, 2), 1.6), np.full((2, 2), 2.2))
    s = load_student(mtp.save(tmp_path / "cored.mtp")[0])
    assert s.mtp.core is not None and state_digest(s) != state_digest(plain)
    folder = s.save(tmp_path / "student", card={"title": "cored"})
    assert (folder / "student.core.table").exists()
    assert "student.core.table" in json.loads((folder / "checksums.json").read_text())
    back = load_model(folder)
    atoms = bulk("Si", "diamond", 5.43) * (2, 1, 1)
    atoms.positions[1] = atoms.positions[0] + [1.8, 0.1, 0]
    assert back.mtp.core is not None and state_digest(back) == state_digest(s)
    assert back.predict([atoms])[0]["energy"] == mtp.predict([atoms])[0]["energy"]
