"""unihub md never overwrites its input, refuses to clobber a file, and writes the format the extension names."""

from __future__ import annotations

from ase.build import bulk
from ase.io import read, write

from unihub.cli import main


def test_md_trajectory_is_safe_and_in_the_named_format(tmp_path, capsys):
    cif = tmp_path / "cu.cif"
    write(cif, bulk("Cu", "fcc", 3.6, cubic=True))
    before = cif.read_bytes()
    common = [str(cif), "--model", "universal-v1", "--steps", "4", "-T", "300"]
    assert main(["md", *common, "--trajectory", str(cif)]) == 2
    assert "is an input of this command" in capsys.readouterr().err and cif.read_bytes() == before
    out = tmp_path / "out.xyz"
    assert main(["md", *common, "--trajectory", str(out)]) == 0
    assert out.read_text().split("\n")[0].strip() == "4"  # text extxyz, not a binary trajectory
    assert len(read(out, index=":")) >= 1
    stamp = out.read_bytes()
    assert main(["md", *common, "--trajectory", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err and out.read_bytes() == stamp
    assert main(["md", *common, "--trajectory", str(out), "--overwrite"]) == 0
    assert main(["md", *common, "--trajectory", str(tmp_path / "out.unknownext")]) == 2
    assert not (tmp_path / "out.unknownext").exists()
