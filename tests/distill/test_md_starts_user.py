"""A user's relaxation runs start one MD each, from their last (most relaxed) frame."""

from ase.build import bulk

from unihub.finetune.distillation.distill import _md_starts
from unihub.finetune.distillation.structures import one_per_group


def _run(name: str, a: float, frames: int) -> list:
    out = []
    for k in range(frames):
        atoms = bulk("Cu", "fcc", a + 0.01 * k, cubic=True)
        atoms.info.update(group=name, name=f"{name}:{k}")
        out.append(atoms)
    return out


def test_one_start_per_relaxation_run_from_its_last_frame():
    user = _run("relax-a", 3.6, 4) + _run("relax-b", 3.7, 3) + [bulk("Cu", "bcc", 2.9, cubic=True)]
    starts = one_per_group(user)
    assert [s.info.get("name") for s in starts] == ["relax-a:3", "relax-b:2", None]
    md = _md_starts(["Cu"], {}, user, 32, 0)
    assert len(md) == 3 and all(len(s) <= 32 for s in md)
    assert md[0].cell.lengths()[0] >= 3.63 - 1e-9  # supercells of the last frames, not the first


def test_structures_without_groups_each_start_md():
    user = [bulk("Cu", "fcc", 3.6 + 0.01 * k, cubic=True) for k in range(3)]
    assert len(_md_starts(["Cu"], {}, user, 32, 0)) == 3
