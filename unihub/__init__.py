"""unihub: a hub of pretrained universal interatomic potentials.

>>> from unihub import load_model, list_models, ood_report
>>> from unihub.finetune import finetune, distill

The four stages are subpackages: ``unihub.foundation`` (graphs, model, training),
``unihub.finetune`` (fine-tuning, distillation to MTP), ``unihub.zoo`` (registry, loading,
publishing) and ``unihub.eval`` (OOD suites and reports). The ``unihub`` command is
``unihub.cli``.
"""

from __future__ import annotations

from unihub.foundation import loading as _loading
from unihub.foundation.lazy import lazy_exports as _lazy_exports

__all__ = ["load_model", "list_models", "ood_report"]
__getattr__ = _lazy_exports(__name__, {"load_model": "unihub.zoo", "list_models": "unihub.zoo",
                                          "ood_report": "unihub.eval"})


# The composition of the stages: finetune resolves model names through the zoo, and the zoo reads MTP
# students through finetune, without either importing the other (see unihub.foundation.loading). The
# imports wait for the first call so that ``import unihub`` stays free of torch.
def _zoo_load_model(name_or_path, **kwargs):
    from unihub.zoo.load import load_model  # on first call: `import unihub` stays free of torch

    return load_model(name_or_path, **kwargs)


def _read_student(path, **kwargs):
    from unihub.finetune.mtp.student import load_student  # on first call: `import unihub` stays free of torch

    return load_student(path, **kwargs)


_loading.install_loader(_zoo_load_model)
_loading.register_reader("mtp", _read_student)
