"""Benchmark files read as structures (or reference tables) for eval/ and friends."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import numpy as np
import pytest

from unihub.foundation.data import load_card, load_mp_elemental_energies, read_frames


def test_matcalc_bench_files(dataset, manifest):
    wbm = dataset("wbm_random_1000")
    assert len(wbm) == 972 and sum(len(f) for f in wbm) == manifest["wbm_random_1000"]["n_atoms_total"]
    assert wbm[0].group == "wbm-3-38149" and wbm[0].energy == pytest.approx(-34.79162033)
    assert wbm[0].info["corrected_formation_energy_per_atom"] == pytest.approx(-0.291504044)
    assert {f.split for f in wbm} == {None}
    el = dataset("mp_binary_elasticity")
    assert len(el) == 3953 and el[0].energy is None and el[0].info["bulk_modulus_vrh"] == pytest.approx(53.357)
    ph = dataset("alexandria_phonon")
    assert len(ph) == 1170 and sum(len(f) for f in ph) == 23550
    assert ph[0].info["heat_capacity"] == pytest.approx(65.7436504)


def test_wbm_formation_energies_from_mp_references(dataset):
    """Total energies + MP elemental references reproduce the stored formation energies."""
    refs = load_mp_elemental_energies()
    assert len(refs) == 89 and refs["Si"] == pytest.approx(-10.85063606 / 2)
    diffs = []
    for f in dataset("wbm_random_1000"):
        from ase.data import chemical_symbols

        e_ref = sum(refs[chemical_symbols[z]] for z in f.numbers)
        diffs.append((f.energy - e_ref) / len(f) - f.info["formation_energy_per_atom"])
    assert np.mean(np.abs(diffs) < 1e-3) > 0.9


def test_jarvis_vacancy_drops_inconsistent_entries(dataset, shared_data):
    frames = dataset("jarvis_vacancy")
    assert len(frames) == 2 * 510
    bulk, defect = frames[0], frames[1]
    assert bulk.info["role"] == "bulk" and defect.info["role"] == "defective"
    assert bulk.group == defect.group == "JVASP-867"
    assert len(bulk) == 108 and len(defect) == 107 and bulk.fidelity == "optb88vdw"
    assert defect.energy - bulk.energy + bulk.info["chem_pot"] == pytest.approx(bulk.info["E_vac"], abs=1e-5)
    assert np.allclose(np.diag(defect.cell), 10.87863)
    # fractional coordinates (cartesian: false) are turned into Cartesian ones
    raw = json.loads((shared_data / "bench/jarvis_vacancy/vacancy_db.json").read_text())[0]["defective_atoms"]
    assert defect.positions[1] == pytest.approx(np.array(raw["coords"][1]) @ np.array(raw["lattice_mat"]))
    path = shared_data / "bench/jarvis_vacancy/vacancy_db.json"
    assert len(read_frames(path)) == len(frames)  # the card's file read directly: the card's conventions
    everything = read_frames(path, format="jarvis_vacancy", drop_inconsistent=False)
    assert len(everything) == 1090 and sum(not f.info["consistent"] for f in everything) == 70


def test_acwf_eos_points_become_scaled_structures(shared_data, manifest):
    folder = shared_data / load_card("acwf_eos").folder
    res = json.loads((folder / "results-unaries-verification-PBE-v1-vasp.json").read_text())
    frames = read_frames(folder / "results-unaries-verification-PBE-v1-vasp.json")
    assert len(frames) == sum(len(v) for v in res["eos_data"].values())
    si = [f for f in frames if f.group == "Si-X/Diamond"]
    assert len(si) == 7 and len(si[0]) == 2
    for f, (volume, energy) in zip(si, res["eos_data"]["Si-X/Diamond"], strict=True):
        assert abs(np.linalg.det(f.cell)) == pytest.approx(volume) and f.energy == pytest.approx(energy)
    ox = read_frames(folder / "results-oxides-verification-PBE-v1-vasp.json")
    o_xo = [f for f in ox if f.group == "O-XO"]  # VASP ran half of the xsf cell: rescaled to the xsf
    raw = json.loads((folder / "results-oxides-verification-PBE-v1-vasp.json").read_text())["eos_data"]["O-XO"]
    assert len(o_xo[0]) == 2 and o_xo[0].energy == pytest.approx(2 * raw[0][1])
    assert abs(np.linalg.det(o_xo[0].cell)) == pytest.approx(2 * raw[0][0])
    ae = read_frames(folder / "results-unaries-verification-PBE-v1-AE-average.json")
    assert len(ae) == 384 and all(f.energy is None for f in ae)
    fit = ae[0].info["bm_fit"]
    assert abs(np.linalg.det(ae[0].cell)) == pytest.approx(fit["min_volume"])
    total = 0
    for p in folder.glob("results-*.json"):
        total += sum(len(v or []) for v in (json.loads(p.read_text()).get("eos_data") or {}).values())
    assert total == manifest["acwf_eos"]["n_eos_points_all_codes"]


def test_bench_without_frames_and_mp_references(shared_data):
    from unihub.foundation.data import load_dataset

    with pytest.raises(ValueError, match="holds no frames"):
        load_dataset("kappa103")
    refs = load_mp_elemental_energies()
    path = shared_data / "bench/mp_elemental_refs/2023-02-07-mp-elemental-reference-entries.json.gz"
    raw = json.loads(gzip.open(path).read())
    fe = raw["Fe"]
    assert refs["Fe"] == pytest.approx(fe["energy"] / sum(fe["composition"].values()))
    assert Counter(type(v) for v in refs.values()) == {float: 89}
