"""Generated templates follow the level rule and MLIP-2's basis sizes."""

import numpy as np
import pytest

from unihub.finetune.mtp.levels import basis_functions, make_template, moment_level

# alpha_scalar_moments of MLIP-2's untrained_mtps/NN.mtp
MLIP2_SCALARS = {8: 9, 12: 29, 14: 52, 16: 92, 18: 163}


@pytest.mark.parametrize("level", sorted(MLIP2_SCALARS))
def test_number_of_basis_functions_matches_mlip2(level):
    assert len(make_template(level).alpha_moment_mapping) == MLIP2_SCALARS[level]


def test_level8_plan_has_mlip2_sizes():
    t = make_template(8)
    # MLIP-2 08.mtp: 11 basic alphas, 14 products, 18 alphas, 2 radial functions
    assert (len(t.alpha_index_basic), len(t.alpha_index_times), t.alpha_moments_count) == (11, 14, 18)
    assert t.radial_funcs_count == 2
    assert t.alpha_index_basic.tolist()[:4] == [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]


@pytest.mark.parametrize("level", [2, 10, 16, 20])
def test_basis_functions_respect_level_and_size(level):
    for factors in basis_functions(level):
        assert sum(moment_level(*lab) for g in factors for lab in g.labels) <= level
        assert sum(len(g.labels) for g in factors) <= 4


def test_plan_is_topologically_ordered():
    t = make_template(18)
    times = t.alpha_index_times
    assert np.all(times[:, 0] < times[:, 3]) and np.all(times[:, 1] < times[:, 3])
    assert np.all(np.diff(times[:, 3]) >= 0)
    assert t.alpha_moment_mapping.max() < t.alpha_moments_count


@pytest.mark.parametrize("bad", [0, 7, 30])
def test_bad_level_is_refused(bad):
    with pytest.raises(ValueError, match="level"):
        make_template(bad)
