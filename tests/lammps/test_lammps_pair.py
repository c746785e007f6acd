"""pair_style unihub/mtp against the Python runtime (MTPModel.predict) on the same structures."""

import numpy as np
import pytest
from ase.build import bulk
from lmp_testlib import alloy, rel_err, requires_lammps

pytestmark = requires_lammps

TOL = 1e-10


def _cases():
    prim = bulk("Si", "diamond", a=5.43)  # 2 atoms, triclinic, every side < 2 x cutoff
    prim.rattle(0.05, seed=1)
    cubic = alloy(seed=2, rattle=0.1, elements=("Si",))  # 8 atoms, strained, 5.4 Å < 2 x cutoff
    big = alloy(seed=3, repeat=3, rattle=0.05, elements=("Si",))  # 216 atoms, > 2 x cutoff
    small3 = alloy(seed=4, rattle=0.1, elements=("Si", "Ge", "C"))
    mid3 = alloy(seed=5, repeat=2, rattle=0.1, elements=("Si", "Ge", "C"))  # 64 atoms, 10.9 Å
    return {"si-prim": ("si16", prim), "si-8": ("si16", cubic), "si-216": ("si16", big),
            "sigec-8": ("sigec", small3), "sigec-64": ("sigec", mid3)}


CASES = _cases()


def _check(lmp: dict, model, atoms) -> None:
    ref = model.predict([atoms])[0]
    atoms.calc = model.calculator()
    assert rel_err(lmp["energy"], ref["energy"]) < TOL
    assert rel_err(lmp["forces"], ref["forces"]) < TOL
    assert rel_err(lmp["stress"], ref["stress"]) < TOL
    assert rel_err(lmp["energies"], atoms.get_potential_energies()) < TOL
    assert np.abs(ref["forces"]).max() > 1e-3  # a potential with real forces, so the test can fail


@pytest.mark.parametrize("newton", [True, False], ids=["newton-on", "newton-off"])
@pytest.mark.parametrize("case", list(CASES))
def test_energy_forces_stress_match_python(case, newton, request, plugin):
    from unihub.finetune.mtp.lammps.evaluate import evaluate, mtp_pair_commands

    fixture, atoms = CASES[case]
    model, path = request.getfixturevalue(fixture)
    (res,) = evaluate([atoms], mtp_pair_commands(path, model.elements), model.elements, newton=newton)
    _check(res, model, atoms.copy())


def test_types_map_to_species_by_name(sigec, plugin):
    """LAMMPS types in another order than the file's species, and two types naming one element."""
    from unihub.finetune.mtp.lammps.evaluate import evaluate, mtp_pair_commands

    model, path = sigec
    atoms = alloy(seed=6, repeat=2, rattle=0.1, elements=("Si", "Ge", "C"))
    (res,) = evaluate([atoms], mtp_pair_commands(path, ["C", "Ge", "Si"]), ["C", "Ge", "Si"])
    _check(res, model, atoms.copy())
    # move about half the Si atoms (type 3) to a type 4 that is also Si: nothing may change
    types = ["C", "Ge", "Si", "Si"]
    split = ["set type 3 type/fraction 4 0.5 4321", *mtp_pair_commands(path, types)]
    (res4,) = evaluate([atoms], split, types)
    _check(res4, model, atoms.copy())


def test_untagged_file_maps_by_position(sigec, plugin, tmp_path):
    from unihub.finetune.mtp.lammps.evaluate import evaluate, mtp_pair_commands
    from unihub.finetune.mtp.mtpfile import read_mtp, write_mtp

    model, path = sigec
    p = read_mtp(path)
    p.elements, p.potential_tag = [], ""
    write_mtp(tmp_path / "untagged.mtp", p)
    assert "elements:" not in (tmp_path / "untagged.mtp").read_text()
    atoms = alloy(seed=7, rattle=0.1, elements=("Si", "Ge", "C"))
    (res,) = evaluate([atoms], mtp_pair_commands(tmp_path / "untagged.mtp", ["Si", "Ge", "C"]), ["Si", "Ge", "C"])
    _check(res, model, atoms.copy())


@pytest.mark.parametrize("names, message", [(["Si", "Xx"], "Xx (atom type 2) is not in"),
                                            (["Si"], "expected 'pair_coeff * * file.mtp' and 2 element names")])
def test_bad_pair_coeff_is_refused(sigec, plugin, names, message):
    from unihub.finetune.mtp.lammps.evaluate import evaluate, mtp_pair_commands

    _, path = sigec
    atoms = alloy(seed=8, elements=("Si", "Ge"))
    with pytest.raises(Exception, match="pair_coeff unihub/mtp") as exc:
        evaluate([atoms], mtp_pair_commands(path, names), ["Si", "Ge"])
    assert message in str(exc.value)


@pytest.mark.parametrize("newton", ["on", "off"])
def test_per_atom_virial_sums_to_the_global_one(sigec, plugin, tmp_path, newton):
    from ase.io import write
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR

    from unihub.finetune.mtp.lammps.evaluate import mtp_pair_commands
    from unihub.finetune.mtp.lammps.runtime import open_lammps

    model, path = sigec
    atoms = alloy(seed=11, rattle=0.1, elements=("Si", "Ge", "C"))
    write(tmp_path / "d.data", atoms, format="lammps-data", specorder=model.elements, masses=True)
    lmp = open_lammps(["-log", "none", "-screen", "none", "-nocite"])
    try:
        lmp.commands_list(["units metal", "atom_style atomic", f"newton {newton}", f"read_data {tmp_path / 'd.data'}",
                           *mtp_pair_commands(path, model.elements), "compute pv all pressure NULL virial",
                           "compute sa all stress/atom NULL virial",
                           "compute ss all reduce sum c_sa[1] c_sa[2] c_sa[3] c_sa[4] c_sa[5] c_sa[6]",
                           "thermo_style custom step pe c_pv[*] c_ss[*]", "run 0 post no"])
        pv = np.array(lmp.extract_compute("pv", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)[:6])
        ss = np.array(lmp.extract_compute("ss", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)[:6])
        vol = atoms.get_volume()
    finally:
        lmp.close()
    assert np.abs(pv).max() > 1.0  # bar
    assert rel_err(-ss / vol, pv) < TOL  # stress/atom is -(per-atom virial) in pressure*volume units


def test_file_layout_variants_read_like_python(sigec, plugin, tmp_path):
    """Newer key names (min/max/size) and radial_funcs_count after the block, as the Python reader allows."""
    from unihub.finetune.mtp.lammps.evaluate import evaluate, mtp_pair_commands
    from unihub.finetune.mtp.model import MTPModel

    _, path = sigec
    lines = path.read_text().splitlines()
    funcs = next(line for line in lines if "radial_funcs_count" in line)
    text = "\n".join(line for line in lines if line != funcs)
    for old, new in (("min_dist =", "min ="), ("max_dist =", "max ="), ("radial_basis_size =", "size =")):
        text = text.replace(old, new)
    text = text.replace("alpha_moments_count", funcs.strip() + "\nalpha_moments_count", 1)
    variant = tmp_path / "variant.mtp"
    variant.write_text(text)
    model = MTPModel.load(variant)
    atoms = alloy(seed=12, rattle=0.1, elements=("Si", "Ge", "C"))
    (res,) = evaluate([atoms], mtp_pair_commands(variant, model.elements), model.elements)
    _check(res, model, atoms.copy())


@pytest.mark.parametrize("newton", [True, False], ids=["newton-on", "newton-off"])
def test_core_table_matches_python(newton, sigec, plugin, tmp_path):
    """A student with a repulsive core runs as hybrid/overlay of the MTP and the core's pair_style table; with two
    types naming one element too. The table is splined, so agreement is to its interpolation error."""
    from unihub.finetune.mtp.lammps.evaluate import evaluate, mtp_pair_commands
    from unihub.finetune.mtp.model import MTPModel
    from unihub.finetune.mtp.repulsion import CoreRepulsion

    m = MTPModel.load(sigec[1])
    m.core = CoreRepulsion(tuple(m.elements), np.full((3, 3), 1.4), np.array([[2.2, 2.1, 2.0], [2.1, 2.3, 2.0],
                                                                                [2.0, 2.0, 1.9]]))
    path = tmp_path / "cored.mtp"
    m.save(path)
    atoms = alloy(seed=7, repeat=2, rattle=0.1, elements=("Si", "Ge", "C"))
    u = atoms.positions[1] - atoms.positions[0]
    atoms.positions[1] = atoms.positions[0] + 1.6 * u / np.linalg.norm(u)  # one pair well inside the core
    ref = m.predict([atoms])[0]
    assert m.core.compute(atoms)[0].sum() > 1.0
    for types, extra in [(["Si", "Ge", "C"], []), (["C", "Ge", "Si", "Si"], ["set type 3 type/fraction 4 0.5 4321"])]:
        (res,) = evaluate([atoms], [*extra, *mtp_pair_commands(path, types)], types, newton=newton)
        assert rel_err(res["energy"], ref["energy"]) < 1e-6
        assert rel_err(res["forces"], ref["forces"]) < 1e-5
        assert rel_err(res["stress"], ref["stress"]) < 1e-5



def test_floor_table_of_other_elements_refused(sigec, plugin, tmp_path):
    from unihub.finetune.mtp.lammps.evaluate import evaluate
    from unihub.finetune.mtp.repulsion import CoreRepulsion

    model, path = sigec
    table = tmp_path / "other.core.table"
    CoreRepulsion(("Si", "Ge", "Sn"), np.full((3, 3), 1.4), np.full((3, 3), 2.0)).write_table(table, points=20)
    cmds = [f'plugin load "{plugin}"', f'pair_style unihub/mtp floor "{table}"',
            f'pair_coeff * * "{path}" Si Ge C']
    with pytest.raises(Exception, match="Sn, which the .mtp file does not have"):
        evaluate([alloy(seed=1, elements=("Si", "Ge", "C"))], cmds, ["Si", "Ge", "C"])
