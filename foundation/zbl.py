"""The Ziegler-Biersack-Littmark universal screened nuclear repulsion: its constants and screening length, in one
place for the GNN's prior (``foundation.model.repulsion``, torch) and the MTP students' core
(``finetune.mtp.repulsion``, numpy). Works on numpy arrays and torch tensors alike."""

COULOMB = 14.399645  # e^2 / (4 pi eps0) in eV Å
COEFFICIENTS = (0.18175, 0.50986, 0.28022, 0.02817)  # screening function phi(x) = sum c_k exp(-d_k x)
DECAYS = (3.19980, 0.94229, 0.40290, 0.20162)


def screening_length(zi, zj):
    """a (Å) of a pair of atomic numbers (floats)."""
    return 0.46850 / (zi**0.23 + zj**0.23)
