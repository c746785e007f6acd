"""New heads start from the closest head; E0 is re-fitted on the base model's residuals."""

import dataclasses

import numpy as np
import pytest
import torch
from ft_helpers import cells, label

from unihub.finetune.heads import add_head, apply_e0, closest_head

CU, NI = 29, 28


def test_closest_head_is_the_one_that_made_the_labels(base):
    frames = label(base, cells(["Cu", "Ni"], 6, seed=3), fidelity="pbe", head="r2scan")
    assert closest_head(base, frames) == "r2scan"


def test_add_head_copies_its_source(base):
    m = add_head(base, "mine", "pbesol")
    assert m.config.fidelities == [*base.config.fidelities, "mine"]
    k = base.fidelity_index("pbesol")
    torch.testing.assert_close(m.fidelity_embedding.weight[-1], base.fidelity_embedding.weight[k])
    torch.testing.assert_close(m.reference_energies[-1], base.reference_energies[k])
    atoms = cells(["Cu"], 2, seed=1)
    a, b = m.predict(atoms, head="mine"), base.predict(atoms, head="pbesol")
    assert a[0]["energy"] == pytest.approx(b[0]["energy"], abs=1e-5)
    with pytest.raises(ValueError, match="already has a head 'pbe'"):
        add_head(base, "PBE", "pbe")


def test_e0_estimate_recovers_a_per_element_shift(base):
    # varied stoichiometry, or the two shifts could not be told apart
    frames = label(base, cells(["Cu"], 3, 4) + cells(["Ni"], 3, 5) + cells(["Cu", "Ni"], 3, 6))
    shift = {CU: 0.7, NI: -0.4}
    shifted = [dataclasses.replace(f, energy=f.energy + sum(shift[int(z)] for z in f.numbers)) for f in frames]
    m = add_head(base, "shifted", "pbe")
    before = m.reference_energies[-1].clone()
    apply_e0(m, "shifted", "estimate", shifted)
    delta = (m.reference_energies[-1] - before).numpy()
    assert delta[CU] == pytest.approx(0.7, abs=1e-3) and delta[NI] == pytest.approx(-0.4, abs=1e-3)
    assert np.count_nonzero(delta) == 2  # other elements untouched
    apply_e0(m, "shifted", {"Cu": -1.5}, shifted)
    assert m.reference_energies[-1, CU].item() == pytest.approx(-1.5)


def test_new_head_alone_leaves_old_heads_alone(base, ft_frames):
    from unihub.finetune import finetune

    # only the fidelity embedding trains; the old heads' rows get no gradient, so they must not move at all
    tuned = finetune(base, ft_frames, head="new", new_head_name="mine", epochs=2, lr=5e-3, check_units=False,
                     freeze="elements,radial,interaction,readout")
    meth = tuned.extra_config["finetune"]["method"]
    assert tuned.config.fidelities[-1] == "mine" and meth["new_head"] and meth["init_head"] in base.config.fidelities
    atoms = cells(["Cu", "Ni"], 2, seed=8)
    for h in base.config.fidelities:
        assert tuned.predict(atoms, head=h)[0]["energy"] == base.predict(atoms, head=h)[0]["energy"]
    assert tuned.predict(atoms, head="mine")[0]["energy"] != base.predict(atoms, head=meth["init_head"])[0]["energy"]
