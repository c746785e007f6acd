"""End to end: ``distill`` writes a .mtp and a zoo folder whose card loads through ``load_model``."""

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from unihub.finetune.distillation import ActiveConfig, card_fields, distill
from unihub.zoo import load_model


def _dft_like(n=4):
    """EMT-labelled frames standing in for a DFT test set."""
    from unihub.foundation.data.frame import Frame

    out = []
    for k in range(n):
        a = bulk("Cu", "fcc", 3.6 + 0.02 * k, cubic=True) * (2, 1, 1)
        a.rattle(0.04, seed=k)
        a.calc = EMT()
        a.get_potential_energy(), a.get_stress()
        out.append(Frame.from_atoms(a))
    return out


def test_distill_writes_a_loadable_student_with_its_card(emt_teacher, tmp_path):
    out = tmp_path / "cu.mtp"
    cfg = ActiveConfig(threshold=1.5, steps=60, every=10, max_new=4, max_rounds=2, fit_iters=5)
    s = distill(emt_teacher, elements=["Cu"], level=6, r_cut=4.5, temperatures=[300, 1500], budget=120,
                output=out, md_steps=40, md_every=10, fit_iters=20, active=cfg, max_atoms=8,
                reference={"emt-as-dft": _dft_like()}, threads=1, progress=False)
    rec = s.record
    assert rec["teacher"] == "emt" and rec["elements"] == ["Cu"] and rec["level"] == 6 and rec["cutoff"] == 4.5
    assert {"prototype", "strain", "shear", "surface", "rattle", "md-nvt", "md-npt"} <= set(rec["counts"])
    assert sum(rec["counts"].values()) == rec["train_size"] + rec["held_out"] <= 120
    assert rec["active"]["rounds"] and rec["active"]["reason"]
    assert set(rec["errors"]) == {"teacher (held-out)", "emt-as-dft"}

    folder = tmp_path / "cu"
    from unihub.finetune.distillation.config import DistillConfig
    from unihub.finetune.distillation.distill import CONFIG_FILE

    kept = DistillConfig.from_yaml(folder / CONFIG_FILE)  # the settings, to repeat the run with --config
    assert (kept.elements, kept.fit.level, kept.sampling.temperatures, kept.active) == (["Cu"], 6, [300, 1500], cfg)
    manifest = json.loads((folder / "checksums.json").read_text())
    assert {"student.mtp", "student.core.table", "config.json", "README.md", "distillation.json"} <= set(manifest)
    assert out.with_name("cu.core.table").exists() and list(rec["core"]) == ["Cu-Cu"]
    assert rec["core"]["Cu-Cu"][1] == pytest.approx(s.mtp.core.r_out[0, 0])
    loaded = load_model(folder)
    f = card_fields(loaded.card)
    assert f["teacher"] == "emt" and f["teacher_revision"] == rec["teacher_revision"]
    assert f["elements"] == ["Cu"] and f["level"] == 6 and f["cutoff"] == 4.5
    for key in ("energy_mae_meV_atom_raw", "force_mae_meV_A"):
        assert f["errors"]["emt-as-dft"][key] == pytest.approx(rec["errors"]["emt-as-dft"][key])
    assert "md-npt" in loaded.card["body"]  # counts per source are in the readable card too
    assert "## Repulsive core" in loaded.card["body"] and "| Cu-Cu |" in loaded.card["body"]

    atoms = bulk("Cu", "fcc", 3.6, cubic=True) * (2, 2, 2)
    atoms.rattle(0.05, seed=1)
    e_file = load_model(out).predict([atoms])[0]
    e_dir = loaded.predict([atoms])[0]
    assert e_file["energy"] == e_dir["energy"] and np.isfinite(e_file["energy"])
    atoms.calc = EMT()  # a distilled student is in the teacher's ballpark (EMT cohesive scale ~ 0.1 eV/atom)
    assert abs(e_file["energy"] - atoms.get_potential_energy()) / len(atoms) < 0.05


def test_distill_refuses_unknown_and_unseen_elements(emt_teacher, tiny_universal):
    from unihub.finetune import distill as top_level

    assert top_level is distill  # the public name is the function, not a module
    with pytest.raises(ValueError, match="unknown element"):
        distill(emt_teacher, elements=["Qq"])
    seen = tiny_universal.seen_elements.clone()
    try:
        tiny_universal.seen_elements[:, 14] = True  # a teacher trained on Si only
        with pytest.raises(ValueError, match=r"never saw \['Ge'\]"):
            distill(tiny_universal, elements=["Si", "Ge"])
    finally:
        tiny_universal.seen_elements.copy_(seen)


def test_cli_runs_distill(tiny_universal, tmp_path, capsys):
    from unihub.cli import build_parser

    teacher_dir = tiny_universal.save(tmp_path / "teacher")
    args = build_parser().parse_args(["distill", str(teacher_dir), "--elements", "Si", "--level", "4", "-T", "300",
                                      "900", "--md-steps", "10", "--fit-iters", "5", "--rounds", "0", "--budget", "60",
                                      "--threads", "1", "--no-progress", "-o", str(tmp_path / "si.mtp")])
    assert args.func(args) == 0
    assert "student vs teacher (held-out)" in capsys.readouterr().out
    s = load_model(tmp_path / "si")
    assert s.mtp.elements == ["Si"] and card_fields(s.card)["teacher"] == "tiny"


def test_distill_never_writes_over_a_model_folder(tiny_universal, tmp_path):
    """-o mine.mtp writes mine/: when mine/ is a model (here the teacher itself), nothing is touched."""
    from unihub.foundation.errors import InputError
    from unihub.foundation.files import sha256_file

    folder = tiny_universal.save(tmp_path / "mine")
    before = {p.name: sha256_file(p) for p in folder.iterdir()}
    with pytest.raises(InputError, match=r"mine already exists and is not an earlier distillation.*another -o"):
        distill(str(folder), elements=["Si"], output=tmp_path / "mine.mtp", budget=10)
    assert {p.name: sha256_file(p) for p in folder.iterdir()} == before
    assert not (tmp_path / "mine.mtp").exists()


def test_user_structures_replace_the_generated_ones(emt_teacher, tmp_path):
    from ase.io import write

    write(tmp_path / "start.extxyz", [bulk("Cu", "fcc", 3.6, cubic=True), bulk("Cu", "bcc", 2.9, cubic=True)])
    s = distill(emt_teacher, structures=tmp_path / "start.extxyz", level=4, r_cut=4.5, temperatures=[300, 900],
                md_steps=20, md_every=10, fit_iters=5, active=False, max_atoms=8, threads=1, progress=False)
    counts = s.record["counts"]
    assert s.record["elements"] == ["Cu"] and "surface" not in counts and "prototype" not in counts
    # user: the 2 cells and their supercells; MD: 2 starts x 2 rungs x 2 snapshots
    assert counts["user"] == 4 and counts["md-nvt"] + counts["md-npt"] == 8
    assert s.record["active"]["reason"] == "not run"


def test_md_starts_from_the_known_phase_not_the_teachers_favourite():
    """A teacher hole (hcp Cu far below fcc) must not choose where MD starts, and sets no floor."""
    from ase.build import bulk

    from unihub.finetune.distillation.distill import _md_starts, energy_floor

    fcc, hcp = bulk("Cu", "fcc", 3.6), bulk("Cu", "hcp", 2.55)
    fcc.info.update(name="Cu-fcc", energy_per_atom=-3.5)
    hcp.info.update(name="Cu-hcp", energy_per_atom=-40.0)
    relaxed = {"Cu-fcc": fcc, "Cu-hcp": hcp}
    starts = _md_starts(["Cu"], relaxed, None, 32, 0)
    # a 3x3x3 supercell of the one-atom fcc cell (hcp has two atoms per cell) and the same with a vacancy
    assert [len(s) for s in starts[:2]] == [27, 26]
    # then fcc's surfaces and a stacking fault, run warm only
    assert all(s.info["name"].startswith("Cu-fcc") and "temperatures" in s.info for s in starts[2:])
    assert energy_floor(["Cu"], relaxed).ground == {"Cu": -3.5}


def test_surfaces_faults_and_adatoms_start_warm_md_without_a_barostat():
    from unihub.finetune.distillation.distill import WARM, _md_starts
    from unihub.finetune.distillation.sampling import composition_melting_point, ensemble_of

    starts = {s.info["name"]: s for s in _md_starts(["W", "Be"], {}, None, 64, 0)}
    warm = {n: s for n, s in starts.items() if "temperatures" in s.info}
    # each element's known phase: three surfaces, a stacking fault on its slip plane, an adatom of the other
    assert {"W-bcc(110)", "W-bcc110-gsf0.00,0.50", "W-bcc(100)+Be", "Be-hcp(100)+W"} <= set(warm)
    assert len(warm) == 10
    for n, s in warm.items():
        tm = composition_melting_point(s)
        assert s.info["temperatures"] == [round(f * tm) for f in WARM]
        slab = "vacuum" in s.info
        assert slab == ("gsf" not in n)
        # a slab keeps its vacuum: NVT on every rung; bulk cells alternate NVT and NPT
        assert [ensemble_of(s, k) for k in range(2)] == ["nvt", "nvt" if slab else "npt"]
    adatom = warm["W-bcc(100)+Be"]
    assert adatom.get_chemical_symbols().count("Be") == 1 and adatom.positions[:, 2].argmax() == len(adatom) - 1
    assert [ensemble_of(starts["W-bcc"], k) for k in range(3)] == ["nvt", "npt", "nvt"]


def test_md_starts_of_several_elements_visit_compounds():
    from unihub.finetune.distillation.distill import _md_starts

    starts = _md_starts(["W", "Be"], {}, None, 64, 0)
    names = [s.info["name"] for s in starts]
    assert {"BeW-B2", "Be2W-C15", "Be2W-C14", "BeW3-L1_2", "Be3W-L1_2"} <= set(names)
    mixed = [s for s in starts if set(s.get_chemical_symbols()) == {"W", "Be"} and "temperatures" not in s.info]
    assert len(mixed) == 8  # 7 compounds + a random alloy (the 2 adatom slabs run warm only)
    assert all(len(s) <= 64 for s in starts)
    # four elements have 30 pair compounds: at most max_compounds of them start MD
    many = _md_starts(["Nb", "Mo", "Ta", "W"], {}, None, 64, 0, max_compounds=5)
    bulk = [s for s in many if "temperatures" not in s.info]
    assert len(bulk) == 4 * 2 + 5 + 1
    # and each (bcc) element warm: 3 surfaces, a stacking fault, an adatom of each of the 3 others
    assert len(many) - len(bulk) == 4 * (3 + 1 + 3)


def test_a_killed_distillation_resumes_from_its_saved_labels(emt_teacher, tmp_path, monkeypatch):
    """Labels are saved after sampling and after every round; a run killed in round 2 resumes there
    without asking the teacher again for what it already labelled."""
    from ase.io import read

    import unihub.finetune.distillation.active as active_mod

    out = tmp_path / "cu.mtp"
    kw = dict(elements=["Cu"], level=6, r_cut=4.5, temperatures=[300, 1500], budget=120, output=out, md_steps=40,
              md_every=10, fit_iters=10, active=ActiveConfig(threshold=0.3, steps=60, every=10, max_new=4,
                                                             max_rounds=3, fit_iters=3),
              max_atoms=8, threads=1, progress=False)
    explore = active_mod.explore

    def dies_in_round_two(student, starts, temperatures, aset, cfg, seed, pool):
        if seed >= 200:  # round r explores with seed + 100 r
            raise KeyboardInterrupt("killed")
        return explore(student, starts, temperatures, aset, cfg, seed=seed, pool=pool)

    monkeypatch.setattr(active_mod, "explore", dies_in_round_two)
    with pytest.raises(KeyboardInterrupt):
        distill(emt_teacher, **kw)
    state = json.loads((tmp_path / "cu" / "labels.json").read_text())
    saved = read(tmp_path / "cu" / "labels.extxyz", index=":")
    assert state["rounds_done"] == 1 and not state["converged"] and state["frames"] == len(saved)
    relaxed = emt_teacher.calls - state["teacher_calls"]  # the prototypes' energies, not labels
    assert 1 <= relaxed <= 5
    assert {a.info["split"] for a in saved} == {"train", "held_out"}
    EMTTeacher = type(emt_teacher)
    assert np.allclose(saved[0].get_forces(), EMTTeacher().predict([saved[0]])[0]["forces"])

    monkeypatch.setattr(active_mod, "explore", explore)
    fresh = EMTTeacher()
    s = distill(fresh, resume=True, **kw)
    rec = s.record
    rounds = [r["round"] for r in rec["active"]["rounds"]]
    assert rounds[0] == 1 and rounds[1] == 2 and rounds == sorted(rounds)
    added_after = sum(r["added"] for r in rec["active"]["rounds"][1:])
    assert fresh.calls == relaxed + added_after  # the prototypes again, then only the new rounds' labels
    assert rec["train_size"] + rec["held_out"] == len(saved) + added_after
    log_rounds = [json.loads(x)["round"] for x in (tmp_path / "cu" / "active_log.jsonl").read_text().splitlines()]
    assert log_rounds == rounds

    with pytest.raises(ValueError, match=r"different setup \(seed: saved 0, asked 1\)"):
        distill(EMTTeacher(), resume=True, **{**kw, "seed": 1})
    with open(tmp_path / "cu" / "labels.extxyz", "a") as fh:
        fh.write("garbage\n")
    with pytest.raises(ValueError, match="does not match the checksum"):
        distill(EMTTeacher(), resume=True, **kw)
    with pytest.raises(ValueError, match="resume needs output"):
        distill(EMTTeacher(), resume=True, **{**kw, "output": None})


def test_cards_with_the_older_metric_names_read_back_as_the_shared_keys():
    metrics = [{"name": "energy_mae (meV/atom)", "value": 1.0}, {"name": "force_mae (meV/Å)", "value": 2.0},
               {"name": "stress_mae (GPa)", "value": 3.0}, {"name": "force_rmse_meV_A", "value": 4.0}]
    card = {"model-index": [{"results": [{"dataset": {"name": "teacher (held-out)"}, "metrics": metrics}]}]}
    # the old six-component stress MAE is another average than stress_mae_GPa: it keeps its own name
    assert card_fields(card)["errors"] == {"teacher (held-out)": {
        "energy_mae_meV_atom_raw": 1.0, "force_mae_meV_A": 2.0, "stress_mae": 3.0, "force_rmse_meV_A": 4.0}}
