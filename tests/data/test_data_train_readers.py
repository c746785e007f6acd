"""Every training dataset read through its card: counts, spot values after conversion, and
model-independent checks of units and signs (energy differences vs forces and stresses)."""

from __future__ import annotations

import gzip
import json
import tarfile
from collections import Counter, defaultdict

import numpy as np
import pytest
from labelcheck import force_ratios, stress_ratios

from unihub.foundation.data import load_card, read_frames

KBAR = 1 / 1602.1766208  # eV/Å³ per kbar (ASE's GPa)
BAR = KBAR / 1000


def raw_fitsnap(shared_data, name, member):
    with tarfile.open(shared_data / f"train/{name}/JSON.tar.gz") as tf:
        text = tf.extractfile(member).read().decode()
    return json.loads("\n".join(x for x in text.splitlines() if not x.lstrip().startswith("#")))["Dataset"]["Data"][0]


def natoms(frames):
    return sum(len(f) for f in frames)


def test_mad_subset(dataset, manifest):
    frames = dataset("mad_subset")
    assert len(frames) == manifest["mad_subset"]["n_frames"] == 1000
    assert natoms(frames) == manifest["mad_subset"]["n_atoms_total"]
    f = frames[0]
    assert f.fidelity == "pbesol" and len(f) == 44 and f.energy == pytest.approx(-320.29087212850936)
    assert f.forces[0] == pytest.approx([-0.00117790, 0.00129623, 0.00073455])
    assert f.stress[0, 0] == pytest.approx(0.00014290189427216556)
    assert f.stress[0, 2] == pytest.approx(2.5784740320560486e-05)
    assert Counter(fr.info["subset"] for fr in frames)["MC3D"] == 444
    assert len({fr.group for fr in frames}) == 977  # reduced formulas


def test_mad_au_alloys_uses_cohesive_energy(dataset, manifest):
    frames = dataset("mad_au_alloys")
    assert len(frames) == 1218 and natoms(frames) == manifest["mad_au_alloys"]["n_atoms_total"]
    f = frames[0]
    assert f.energy == pytest.approx(-8.50278920872097)  # REF_cohesion_energy, not REF_energy
    assert f.info["REF_energy"] == pytest.approx(-7182.088604233521)
    # REF_stress "xx yy zz yz xz xy" = 6.15e-5 6.15e-5 2.11e-5 -0 0 3.95e-5
    assert f.stress[0, 1] == pytest.approx(3.9480777453576426e-05)
    assert f.stress[2, 2] == pytest.approx(2.1117625149587388e-05)
    assert f.stress[1, 2] == 0 and frames[1].forces[0] == pytest.approx([0, 0, -0.04044577])
    assert {fr.fidelity for fr in frames} == {"pbesol"}
    # REF_energy - REF_cohesion_energy is a sum of per-element isolated-atom energies
    counts = np.array([np.bincount(fr.numbers, minlength=119) for fr in frames], dtype=float)
    offset = np.array([fr.info["REF_energy"] - fr.energy for fr in frames])
    per_element, *_ = np.linalg.lstsq(counts, offset, rcond=None)
    assert np.abs(counts @ per_element - offset).max() < 1e-6


def test_oc20_full_forces_and_fixed_mask(shared_data, manifest):
    card = load_card("oc20_traj")
    frames = read_frames(shared_data / card.folder / "random1000100.traj", fidelity="rpbe")
    assert len(frames) == 126 and len(frames[0]) == 33
    f = frames[0]
    assert f.energy == pytest.approx(-57.74908337) and f.info["free_energy"] == pytest.approx(-57.74473025)
    assert f.info["fixed"].sum() == 17 and f.info["fixed"][0]
    assert f.forces[0] == pytest.approx([-0.03768235, -0.1239796, -0.05936932])  # a fixed atom keeps its force
    assert {fr.group for fr in frames} == {"random1000100"} and f.stress is None
    per_traj = json.loads(manifest["oc20_traj"]["verification"]["notes"][0].split(": ", 1)[1])
    counts = {name: n for name, n, *_ in per_traj}
    assert counts["random1000100.traj"] == 126 and sum(counts.values()) == manifest["oc20_traj"]["n_frames"]
    # forces are -dE/dr: consecutive relaxation steps
    for name in ("random1000100.traj", "random1000163.traj", "random1000156.traj"):
        frames = read_frames(shared_data / card.folder / name)
        assert len(frames) == counts[name]
        r = force_ratios(frames)
        assert len(r) > 10 and np.median(r) == pytest.approx(1.0, abs=0.15), name


def test_matpes_element_refs(dataset, shared_data):
    frames = dataset("matpes_element_refs")
    by_fid = Counter(f.fidelity for f in frames)
    assert by_fid == {"pbe": 89 + 789 - 63, "r2scan": 89}  # MP-PBE lanthanides/Ba excluded by the card
    si = [f for f in frames if f.fidelity == "r2scan" and f.group == "Si/matpes"][0]
    assert si.energy == pytest.approx(-17.54952681) and len(si) == 2
    # 6 kbar numbers, VASP sign: -2.0978 kbar (tensile) -> +2.0978/1602.18 eV/Å³
    assert si.stress[0, 0] == pytest.approx(2.09783759 * KBAR) and si.forces is not None
    mp = json.loads(gzip.open(shared_data / "train/matpes_element_refs/MP-PBE-Element-Refs.json.gz").read())
    c0 = [f for f in frames if f.group == "C/mp-0"][0]
    assert c0.energy == pytest.approx(mp["C"]["energy_per_atom"][0] * len(mp["C"]["structure"][0]["sites"]))
    assert c0.forces is None and c0.stress is None
    assert not [f for f in frames if f.group.startswith(("Tb/mp", "Ba/mp"))]
    assert len({f.group for f in frames if f.group.endswith("/matpes")}) == 89


def test_diatomics_geometry_and_forces(dataset, manifest):
    frames = dataset("diatomics")
    assert len(frames) == manifest["diatomics"]["n_frames"] == 9113 and natoms(frames) == 18226
    assert Counter(f.fidelity for f in frames) == {"pbe": 4555, "r2scan": 4558}
    h2 = frames[0]
    assert h2.group == "PBE/H-H" and list(h2.numbers) == [1, 1] and h2.energy == pytest.approx(15.685922)
    assert np.linalg.norm(h2.positions[1] - h2.positions[0]) == pytest.approx(0.248)
    assert np.allclose(h2.cell, np.eye(3) * 15) and h2.positions[1, 0] > h2.positions[0, 0]
    assert h2.forces[1] == pytest.approx([202.776218, 0, 0])
    assert all(np.allclose(f.forces.sum(axis=0), 0) and np.allclose(f.forces[:, 1:], 0) for f in frames)
    # F on atom 1 (at +x) is -dE/dr along each curve
    curves = defaultdict(list)
    for f in frames:
        curves[f.group].append(f)
    ratios = [np.median(force_ratios(c, max_step=1.0)) for c in curves.values() if len(force_ratios(c, max_step=1.0))]
    assert np.median(ratios) == pytest.approx(1.0, abs=0.05)


def test_fitsnap_ta_stress_unit_and_sign(dataset, manifest, shared_data):
    frames = dataset("fitsnap_Ta")
    assert len(frames) == 363 and natoms(frames) == manifest["fitsnap_Ta"]["n_atoms_total"]
    raw = raw_fitsnap(shared_data, "fitsnap_Ta", "JSON/Volume_FCC/FCC_3.0.json")
    f = [fr for fr in frames if fr.info["fitsnap_group"] == "Volume_FCC" and fr.info["file"] == "FCC_3.0"][0]
    assert f.energy == raw["Energy"] == pytest.approx(40.341566)
    assert f.stress[0, 0] == pytest.approx(-13905054.1 * BAR)  # bar, compression positive -> ASE
    r = stress_ratios([fr for fr in frames if fr.info["fitsnap_group"] == "Volume_FCC"])
    assert len(r) >= 10 and np.median(r) == pytest.approx(1.0, abs=0.05)


def test_fitsnap_fe_inp(dataset, manifest):
    for name, expect_e, expect_s in (("fitsnap_Fe", -15.75141667, -142.24203 * KBAR),
                                     ("fitsnap_InP", -38.72767843, 0.49498 * KBAR)):
        frames = dataset(name)
        assert len(frames) == manifest[name]["n_frames"] and natoms(frames) == manifest[name]["n_atoms_total"]
        assert frames[0].energy == pytest.approx(expect_e) and frames[0].stress[0, 0] == pytest.approx(expect_s)
        by_group = defaultdict(list)
        for f in frames:
            by_group[f.info["fitsnap_group"]].append(f)
        group = "EOS_100" if name == "fitsnap_Fe" else "EOS"
        r = stress_ratios(by_group[group][:200])
        assert len(r) > 20 and np.median(r) == pytest.approx(1.0, abs=0.05)
    fe = dataset("fitsnap_Fe")
    assert fe[0].info["spins"].shape == (2, 4) and {f.fidelity for f in fe} == {"pbe"}
    assert {f.fidelity for f in dataset("fitsnap_InP")} == {"lda"}


def test_fitsnap_wbe_mislabelled_and_placeholder_stress(dataset, manifest):
    frames = dataset("fitsnap_WBe")
    assert len(frames) == 25422 and natoms(frames) == manifest["fitsnap_WBe"]["n_atoms_total"]
    with_stress = Counter(f.info["fitsnap_group"] for f in frames if f.stress is not None)
    assert sum(with_stress.values()) == 12914 - 27 - 39 - 183
    assert "gamma_surface" not in with_stress and with_stress["slice_sample"] == 2000
    eos = [f for f in frames if f.info["file"] == "EOS_BCC_1"][0]
    assert eos.group == "EOS_BCC/EOS_BCC_#/0"  # split group: a block of 20 consecutive file numbers
    assert eos.stress[0, 0] == pytest.approx(-462.45392 * KBAR)  # labelled 'bar', numerically kbar
    sl = [f for f in frames if f.info["file"] == "1000_slice_sample"][0]
    assert sl.stress[0, 0] == pytest.approx(52251.2 * BAR)
    for group in ("EOS_Data", "slice_sample"):
        r = stress_ratios([f for f in frames if f.info["fitsnap_group"] == group][:150])
        assert len(r) > 20 and np.median(r) == pytest.approx(1.0, abs=0.05), group


def test_nbmotaw_source_split_stress_and_voigt_order(dataset, manifest, shared_data):
    frames = dataset("nbmotaw")
    assert len(frames) == manifest["nbmotaw"]["n_frames"] and natoms(frames) == manifest["nbmotaw"]["n_atoms_total"]
    raw = json.loads((shared_data / "train/nbmotaw/W_Test.json").read_text())
    assert sum(f.split == "test" for f in frames) == sum(
        len(json.loads(p.read_text())) for p in (shared_data / "train/nbmotaw").glob("*_Test.json"))
    w = [f for f in frames if f.group.startswith("W_Test/")][0]
    s = raw[0]["outputs"]["stress"]  # xx yy zz xy yz zx, kbar, compression positive
    assert w.split == "test" and w.energy == pytest.approx(raw[0]["outputs"]["energy"])
    assert w.stress[0, 1] == pytest.approx(-s[3] * KBAR) and w.stress[1, 2] == pytest.approx(-s[4] * KBAR)
    assert w.stress[0, 2] == pytest.approx(-s[5] * KBAR)
    elastic = [f for f in frames if "_Elastic/" in f.group]
    r = stress_ratios(elastic)
    assert len(r) > 100 and np.median(r) == pytest.approx(1.0, abs=0.03)
    shear = shear_ratios(elastic)
    assert len(shear) > 100 and np.median(shear) == pytest.approx(1.0, abs=0.03)
    wrong = read_frames(shared_data / "train/nbmotaw/W_Elastic.json", voigt_order="xx yy zz yz xz xy")
    assert abs(np.median(shear_ratios(wrong)) - 1) > 0.3  # the check can tell orders apart


def shear_ratios(frames):
    from labelcheck import strain_pairs

    out = []
    for a, b, eps in strain_pairs(frames, max_strain=0.05):
        off = np.abs(eps - np.diag(np.diag(eps))).max()
        if off < 5 * np.abs(np.diag(eps)).max() or abs(b.energy - a.energy) < 2e-3:
            continue
        volume = (abs(np.linalg.det(a.cell)) + abs(np.linalg.det(b.cell))) / 2
        out.append((b.energy - a.energy) / (volume * np.sum((a.stress + b.stress) / 2 * eps)))
    return np.array(out)


def test_mlearn_alignn_cut_and_element_voigt_order(dataset, manifest, shared_data):
    frames = dataset("mlearn")
    assert len(frames) == manifest["mlearn"]["n_frames"] - 124 == 1566
    dropped = 0
    for el, keep in (("Cu", 262), ("Ni", 263)):
        raw = json.loads((shared_data / f"train/mlearn/alignn_mlearn_data/{el}/id_prop.json").read_text())
        assert len(raw) - keep == 62  # the Cu/Ni test sets twice
        dropped += sum(len(e["atoms"]["elements"]) for e in raw[keep:])
    assert natoms(frames) == manifest["mlearn"]["n_atoms_total"] - dropped
    alignn = [f for f in frames if "/alignn/" in f.group]
    assert Counter(f.group.split("/")[0] for f in alignn) == {"Cu": 262, "Ni": 263}
    ni = [f for f in alignn if f.group.startswith("Ni/")][0]
    raw = json.loads((shared_data / "train/mlearn/alignn_mlearn_data/Ni/id_prop.json").read_text())[0]
    assert ni.energy == pytest.approx(raw["total_energy"] * 107)  # eV/atom -> eV per cell
    s = raw["stresses"]  # xx yy zz xy zx yz
    assert ni.stress[0, 2] == pytest.approx(-s[4] * KBAR) and ni.stress[1, 2] == pytest.approx(-s[5] * KBAR)
    si_test = [f for f in frames if f.group.startswith("Si/") and f.split == "test"]
    assert len(si_test) == 25 and si_test[0].energy == pytest.approx(-297.62773938)
    assert si_test[0].stress[0, 1] == pytest.approx(3.15869869 * KBAR)
    assert si_test[0].group == "Si/Vacancy AIMD NVT simulation at 300 K"
    assert sum(f.split == "test" for f in frames) == 25 + 25 + 29 + 23 + 31 + 31
    for el in ("Si", "Ge"):  # shear order xy yz zx, checked with pure-shear strain pairs
        el_frames = [f for f in frames if f.group.startswith(f"{el}/")]
        r = shear_ratios(el_frames)
        assert len(r) > 20 and np.median(r) == pytest.approx(1.0, abs=0.03), el
