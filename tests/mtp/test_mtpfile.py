"""Reading and writing MLIP-2 .mtp files."""

import numpy as np
import pytest
from mtp_testlib import random_model

from unihub.finetune.mtp.mtpfile import MTPParams, dumps, loads, read_mtp, write_mtp


def test_untrained_template_round_trip_is_byte_stable(tmp_path):
    p = MTPParams.from_level(12, 2, 1.11973, 5, 8)
    text = dumps(p)
    assert "\tmin_dist = 1.11973\n\tmax_dist = 5\n\tradial_basis_size = 8\n\tradial_funcs_count = 3\n" in text
    assert "radial_coeffs" not in text and "scaling" not in text
    write_mtp(tmp_path / "a.mtp", p)
    assert dumps(read_mtp(tmp_path / "a.mtp")) == text


def test_trained_round_trip_is_byte_stable_and_exact(tmp_path):
    m = random_model(10, ["Si", "Ge"], seed=3)
    m.save(tmp_path / "a.mtp")
    b1 = (tmp_path / "a.mtp").read_bytes()
    p = read_mtp(tmp_path / "a.mtp")
    write_mtp(tmp_path / "b.mtp", p)
    assert (tmp_path / "b.mtp").read_bytes() == b1
    np.testing.assert_array_equal(p.radial_coeffs, m.params.radial_coeffs)
    np.testing.assert_array_equal(p.moment_coeffs, m.params.moment_coeffs)
    assert p.elements == ["Si", "Ge"]


def test_reads_radial_funcs_count_after_block_and_new_basis_keys():
    m = random_model(8, ["Si"])
    text = dumps(m.params)
    moved = (text.replace("\tradial_funcs_count = 2\n", "")
             .replace("\tmin_dist", "\tmin").replace("\tmax_dist", "\tmax").replace("\tradial_basis_size", "\tsize")
             .replace("alpha_moments_count", "radial_funcs_count = 2\nalpha_moments_count"))
    p = loads(moved)
    np.testing.assert_array_equal(p.radial_coeffs, m.params.radial_coeffs)
    assert (p.min_dist, p.max_dist, p.radial_basis_size) == (1.8, 4.5, 6)


def test_bad_files_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="first line"):
        loads("nonsense\n")
    text = dumps(random_model(8, ["Si"]).params)
    with pytest.raises(ValueError, match="moment_coeffs"):
        loads(text.replace("moment_coeffs = {", "moment_coeffs = {1.0, "))
    with pytest.raises(ValueError, match="alpha_index_basic"):
        loads("\n".join(line for line in text.splitlines() if not line.startswith("alpha_index_basic =")))


def test_written_file_has_the_permissions_of_a_plain_open(tmp_path):
    """Written atomically through a temporary file, yet readable by others as a plain ``open`` would leave it."""
    import os

    from mtp_testlib import random_model

    path = tmp_path / "p.mtp"
    random_model(6, ["Si"]).save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
