"""Teachers on the mptrj fidelity: the MP2020 correction, ensemble labels, and the resumable labelling job."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT
from ase.io import read

from unihub.finetune.distillation.teachers import (
    FilterRule,
    Teacher,
    label,
    label_to_file,
    mp2020_correction,
    state_path,
)

# pymatgen warns when it cannot guess oxidation states (intermetallics, MgO2); its correction is still defined
pytestmark = pytest.mark.filterwarnings("ignore:Failed to guess oxidation states:UserWarning")

# MPRelaxSet's U values (eV), applied when the most electronegative element is O or F
MP_U = {"Co": 3.32, "Cr": 3.7, "Fe": 5.3, "Mn": 3.9, "Mo": 4.38, "Ni": 6.2, "V": 3.25, "W": 6.2}


class ShiftedEMT(EMT):
    """EMT with ``shift`` eV/atom added to the energy and the forces scaled by ``scale``: a second teacher
    that disagrees with EMT by known amounts."""

    def __init__(self, shift: float = 0.0, scale: float = 1.0) -> None:
        super().__init__()
        self.shift, self.scale = shift, scale

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        for key in ("energy", "free_energy"):
            self.results[key] = self.results[key] + self.shift * len(self.atoms)
        self.results["forces"] = self.results["forces"] * self.scale


def emt_teacher(name: str = "emt", revision: str = "ase", energy_scale: str = "raw", **kw) -> Teacher:
    return Teacher(name, revision, "", energy_scale, lambda: ShiftedEMT(**kw))


def peer_teacher(name: str, energy_scale: str) -> Teacher:
    """A peer served by ``unihub.zoo.peers`` as a teacher: revision and weights' sha256 from its spec."""
    from unihub.zoo.peers import PEERS, peer_calculator

    spec = PEERS[name]
    return Teacher(name=spec.name, revision=spec.model_revision, sha256=spec.checkpoint_sha256,
                   energy_scale=energy_scale, calculator=lambda: peer_calculator(name, num_threads=1))


def rocksalt(formula: str, a: float) -> Atoms:
    return bulk(formula, "rocksalt", a=a)


def mgo2(oo: float) -> Atoms:
    """MgO2 in a 4.5 Å cube with the two O atoms ``oo`` Å apart (a peroxide near 1.5 Å, an oxide at 2.25 Å)."""
    c = 2.25
    return Atoms("MgO2", [(0, 0, 0), (c, c, c - oo / 2), (c, c, c + oo / 2)], cell=[4.5] * 3, pbc=True)


def pymatgen_correction(atoms: Atoms, hubbards: dict[str, float]) -> float:
    """MP2020's correction by pymatgen's own path for an entry written as MP writes one (POTCARs included)."""
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility
    from pymatgen.entries.computed_entries import ComputedStructureEntry
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.vasp.sets import MPRelaxSet

    potcars = {el: (v["symbol"] if isinstance(v, dict) else v) for el, v in MPRelaxSet.CONFIG["POTCAR"].items()}
    symbols = sorted(set(atoms.get_chemical_symbols()))
    params = {"run_type": "GGA+U" if hubbards else "GGA", "hubbards": hubbards,
              "potcar_symbols": [f"PAW_PBE {potcars[s]}" for s in symbols]}
    entry = ComputedStructureEntry(AseAtomsAdaptor.get_structure(atoms), -1.0, parameters=params)
    processed = MaterialsProject2020Compatibility(check_potcar=True).process_entry(entry, on_error="raise")
    return processed.correction


def structures(n: int = 7, seed: int = 0) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a = bulk(["Cu", "Ni", "Au"][i % 3], "fcc", a=[3.61, 3.52, 4.08][i % 3], cubic=True)
        a.positions += rng.normal(0.0, 0.05, a.positions.shape)
        a.info.update(id=f"gen-{i:03d}", source="rattle")
        out.append(a)
    cluster = Atoms("Cu3", [(0, 0, 0), (2.5, 0, 0), (1.2, 2.1, 0.1)])  # no cell: labelled without stress
    cluster.info["id"] = "cluster-0"
    return [*out[:3], cluster, *out[3:]]


# ---- MP2020 correction -------------------------------------------------------------------------


def test_mp2020_zero_for_pure_metal():
    assert mp2020_correction(bulk("Cu", "fcc", a=3.61)) == 0.0
    assert mp2020_correction(bulk("Ni", "fcc", a=3.52) * 2) == 0.0


def test_mp2020_oxide_is_negative_and_matches_pymatgen():
    mgo = rocksalt("MgO", 4.21) * (2, 1, 1)
    corr = mp2020_correction(mgo)
    assert corr < 0
    assert corr == pytest.approx(-0.687 * 2)  # MP2020's oxide correction per O atom
    assert corr == pytest.approx(pymatgen_correction(mgo, {}))


def test_mp2020_u_oxide_gets_u_correction():
    from pymatgen.io.vasp.sets import MPRelaxSet

    assert MPRelaxSet.CONFIG["INCAR"]["LDAUU"]["O"] == MP_U == MPRelaxSet.CONFIG["INCAR"]["LDAUU"]["F"]
    nio = rocksalt("NiO", 4.17)
    corr = mp2020_correction(nio)
    assert corr == pytest.approx(-0.687 - 2.541)  # oxide + GGA/GGA+U mixing for Ni
    assert corr == pytest.approx(pymatgen_correction(nio, {"Ni": MP_U["Ni"]}))
    nif2 = Atoms("NiF2", [(0, 0, 0), (1.0, 1.0, 0), (-1.0, -1.0, 0)], cell=[4.6, 4.6, 3.1], pbc=True)
    assert mp2020_correction(nif2) == pytest.approx(pymatgen_correction(nif2, {"Ni": MP_U["Ni"]}))
    # no U without O or F: an intermetallic is a plain GGA entry
    ni3al = bulk("Ni", "fcc", a=3.57, cubic=True)
    ni3al.symbols[0] = "Al"
    assert mp2020_correction(ni3al) == pytest.approx(pymatgen_correction(ni3al, {})) == 0.0


def test_mp2020_peroxide_is_read_from_structure():
    peroxide, oxide = mp2020_correction(mgo2(1.49)), mp2020_correction(mgo2(2.25))
    assert peroxide == pytest.approx(2 * -0.465) == pymatgen_correction(mgo2(1.49), {})
    assert oxide == pytest.approx(2 * -0.687)


def test_mp2020_needs_a_cell():
    with pytest.raises(ValueError, match="3D cell"):
        mp2020_correction(Atoms("MgO", [(0, 0, 0), (1.9, 0, 0)]))


# ---- teachers and the ensemble -----------------------------------------------------------------


def test_teacher_refuses_unknown_energy_scale():
    with pytest.raises(ValueError, match="energy_scale 'corrected'"):
        Teacher("x", "1", "", "corrected", EMT)


def test_mp2020_teacher_label_is_predicted_minus_correction():
    nio = rocksalt("NiO", 4.17) * (2, 1, 1)
    nio.positions[0] += 0.05  # nonzero forces
    ref = nio.copy()
    ref.calc = EMT()  # EMT has (toy) O parameters: a cheap stand-in for an MP2020-scale model
    (raw,) = emt_teacher(energy_scale="mp2020").predict([nio])
    assert raw.energy == pytest.approx(ref.get_potential_energy() - 2 * (-0.687 - 2.541))
    np.testing.assert_allclose(raw.forces, ref.get_forces())
    np.testing.assert_allclose(raw.stress, ref.get_stress())
    (same,) = emt_teacher().predict([nio])
    assert same.energy == pytest.approx(ref.get_potential_energy())


def test_teacher_builds_its_calculator_once():
    built = []
    t = Teacher("emt", "ase", "", "raw", lambda: built.append(1) or EMT())
    t.predict(structures(2))
    t.predict(structures(2))
    assert len(built) == 1


def test_labels_do_not_depend_on_what_the_calculator_saw_before():
    xs = structures()
    assert xs[-1].get_chemical_formula() == xs[0].get_chemical_formula()  # EMT keeps its state between these
    first, again = emt_teacher().predict(xs[:1])[0], emt_teacher().predict([xs[-1], xs[0]])[-1]
    assert first.energy == again.energy  # exactly: a resumed run must write the same bytes
    assert np.array_equal(first.forces, again.forces) and np.array_equal(first.stress, again.stress)


def test_ensemble_mean_and_spread():
    xs = structures(4)
    a, b = emt_teacher(), emt_teacher("emt+", shift=0.02, scale=1.5)
    labels = label([a, b], xs)
    for atoms, lab in zip(xs, labels):
        ref = atoms.copy()
        ref.calc = EMT()
        e, f = ref.get_potential_energy(), ref.get_forces()
        n = len(atoms)
        assert lab.energies == pytest.approx((e, e + 0.02 * n))
        assert lab.energy == pytest.approx(e + 0.01 * n)
        assert lab.energy_spread == pytest.approx(0.02)
        np.testing.assert_allclose(lab.forces, 1.25 * f)
        assert lab.force_std == pytest.approx(0.25 * np.abs(f).max())
        if atoms.pbc.all():
            np.testing.assert_allclose(lab.stress, ref.get_stress())
        else:
            assert lab.stress is None
        d = max(0.02 / 0.05, lab.force_std / 0.2)
        assert lab.weight == pytest.approx(1 / (1 + d * d))


def test_filter_rule_drops_disagreement_and_nan():
    rule = FilterRule(energy_scale=0.05, force_scale=0.2, drop_above=3.0)
    assert rule.weight(0.0, 0.0) == 1.0
    assert rule.weight(0.05, 0.1) == pytest.approx(0.5)
    assert rule.weight(0.14, 0.0) > 0
    assert rule.weight(0.16, 0.0) == 0.0 and rule.weight(0.0, 0.61) == 0.0
    assert rule.weight(float("nan"), 0.0) == 0.0
    assert FilterRule(drop_above=float("inf")).weight(10.0, 10.0) > 0


# ---- the labelling job ---------------------------------------------------------------------------


def two_teachers(shift: float = 0.02) -> list[Teacher]:
    return [emt_teacher(), emt_teacher("emt+", shift=shift, scale=1.5)]


def test_label_to_file_round_trip(tmp_path):
    xs, teachers, lines = structures(), two_teachers(), []
    out = tmp_path / "labels.extxyz"
    summary = label_to_file(xs, teachers, out, batch_size=3, log=lines.append)
    assert summary["written"] == len(xs) and summary["skipped"] == 0
    assert len(lines) == 3 and lines[-1].startswith(f"labelled {len(xs)}/{len(xs)} structures")
    assert "structures/s" in lines[0] and "ETA" in lines[0]
    frames = read(out, index=":", format="extxyz")
    labels = label(teachers, xs)
    assert [f.info["id"] for f in frames] == [a.info["id"] for a in xs]
    for a, f, lab in zip(xs, frames, labels):
        assert f.info["fidelity"] == "mptrj"
        assert f.info["teachers"] == "emt@ase,emt+@ase"
        assert f.info.get("source") == a.info.get("source")
        assert f.info["energy_spread"] == pytest.approx(lab.energy_spread)
        assert f.info["force_std"] == pytest.approx(lab.force_std)
        assert f.info["weight"] == pytest.approx(lab.weight)
        np.testing.assert_allclose(f.info["teacher_energies"], lab.energies)
        np.testing.assert_allclose(f.positions, a.positions, atol=1e-7)
        assert f.get_potential_energy() == pytest.approx(lab.energy)
        np.testing.assert_allclose(f.get_forces(), lab.forces, atol=1e-7)
        if a.pbc.all():
            np.testing.assert_allclose(f.get_stress(), lab.stress, atol=1e-9)
        else:
            assert "stress" not in f.calc.results
    state = json.loads(state_path(out).read_text())
    assert state["done"] == [a.info["id"] for a in xs] and state["bytes"] == out.stat().st_size
    assert [t["name"] for t in state["teachers"]] == ["emt", "emt+"]
    # a rerun finds everything done and leaves the file alone
    before = out.read_bytes()
    again = label_to_file(xs, teachers, out, batch_size=3, log=lines.append)
    assert again["skipped"] == len(xs) and again["labelled"] == 0 and out.read_bytes() == before


def test_label_to_file_drops_and_remembers(tmp_path):
    xs = structures(4)
    out = tmp_path / "labels.extxyz"
    summary = label_to_file(xs, two_teachers(shift=0.5), out, batch_size=2, log=lambda s: None)
    assert summary["written"] == 0 and summary["dropped"] == len(xs)
    assert not out.exists() or out.stat().st_size == 0
    again = label_to_file(xs, two_teachers(shift=0.5), out, batch_size=2, log=lambda s: None)
    assert again["skipped"] == len(xs)


def test_resume_after_kill_mid_append(tmp_path):
    xs = structures()
    whole = tmp_path / "whole.extxyz"
    label_to_file(xs, two_teachers(), whole, batch_size=2, log=lambda s: None)
    cut = tmp_path / "cut.extxyz"
    label_to_file(xs[:4], two_teachers(), cut, batch_size=2, log=lambda s: None)  # two batches done
    done = cut.stat().st_size
    ref = whole.read_bytes()
    assert ref[:done] == cut.read_bytes()
    with open(cut, "ab") as fh:  # the kill: the third batch half appended, the state not rewritten
        fh.write(ref[done:done + 300])
    lines = []
    label_to_file(xs, two_teachers(), cut, batch_size=2, log=lines.append)  # a new process

    assert "cutting 300 bytes" in lines[0]
    assert cut.read_bytes() == ref
    ids = [f.info["id"] for f in read(cut, index=":", format="extxyz")]
    assert ids == [a.info["id"] for a in xs] and len(set(ids)) == len(ids)
    assert json.loads(state_path(cut).read_text())["sha256"] == json.loads(state_path(whole).read_text())["sha256"]


def test_resume_after_exception_mid_run(tmp_path):
    xs, out = structures(), tmp_path / "labels.extxyz"

    class Dies(EMT):
        calls = 0

        def calculate(self, *args, **kw):
            Dies.calls += 1
            if Dies.calls == 6:
                raise KeyboardInterrupt
            super().calculate(*args, **kw)

    with pytest.raises(KeyboardInterrupt):
        label_to_file(xs, [Teacher("emt", "ase", "", "raw", Dies)], out, batch_size=2, log=lambda s: None)
    assert len(json.loads(state_path(out).read_text())["done"]) == 4
    label_to_file(xs, [emt_teacher()], out, batch_size=2, log=lambda s: None)
    label_to_file(xs, [emt_teacher()], tmp_path / "whole.extxyz", batch_size=2, log=lambda s: None)
    assert out.read_bytes() == (tmp_path / "whole.extxyz").read_bytes()


def test_resume_refuses_other_teachers(tmp_path):
    xs, out = structures(3), tmp_path / "labels.extxyz"
    label_to_file(xs, [emt_teacher()], out, batch_size=2, log=lambda s: None)
    with pytest.raises(ValueError, match=r"labelled by teachers emt@ase .*not by emt@v2"):
        label_to_file(xs, [emt_teacher(revision="v2")], out, log=lambda s: None)
    with pytest.raises(ValueError, match="same FilterRule"):
        label_to_file(xs, [emt_teacher()], out, rule=FilterRule(energy_scale=0.1), log=lambda s: None)


def test_refuses_truncated_edited_or_foreign_output(tmp_path):
    xs, out = structures(3), tmp_path / "labels.extxyz"
    label_to_file(xs, [emt_teacher()], out, batch_size=2, log=lambda s: None)
    data = out.read_bytes()
    out.write_bytes(data[:-10])
    with pytest.raises(ValueError, match="fewer than the"):
        label_to_file(xs, [emt_teacher()], out, log=lambda s: None)
    out.write_bytes(data.replace(b"Cu", b"Au", 1))
    with pytest.raises(ValueError, match="sha256"):
        label_to_file(xs, [emt_teacher()], out, log=lambda s: None)
    other = tmp_path / "other.extxyz"
    other.write_text("not ours\n")
    with pytest.raises(ValueError, match="has no state file"):
        label_to_file(xs, [emt_teacher()], other, log=lambda s: None)


def test_ids_are_required_and_unique(tmp_path):
    xs = structures(2)
    del xs[1].info["id"]
    with pytest.raises(ValueError, match=r"structure 1 .* has no atoms.info\['id'\]"):
        label_to_file(xs, [emt_teacher()], tmp_path / "a.extxyz", log=lambda s: None)
    xs = structures(2)
    xs[1].info["id"] = xs[0].info["id"]
    with pytest.raises(ValueError, match="appears twice"):
        label_to_file(xs, [emt_teacher()], tmp_path / "b.extxyz", log=lambda s: None)


def test_log_to_file(tmp_path):
    log = tmp_path / "label.log"
    label_to_file(iter(structures(3)), [emt_teacher()], tmp_path / "a.extxyz", batch_size=2, log=log)
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and lines[-1].endswith("structures/s")  # total unknown for an iterator: no ETA


# ---- real teachers (optional packages) -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
def test_chgnet_on_raw_scale_agrees_with_sevennet_on_mgo():
    pytest.importorskip("chgnet")
    pytest.importorskip("sevenn")
    (lab,) = label([peer_teacher("chgnet", "mp2020"), peer_teacher("sevennet-0", "raw")], [rocksalt("MgO", 4.21)])
    assert lab.energy_spread < 0.05  # eV/atom; without the conversion the gap is the 0.34 eV/atom correction
