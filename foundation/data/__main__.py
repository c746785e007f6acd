"""``python -m unihub.foundation.data OUT [--role train | --datasets a b ...]``: pack datasets for training."""

from .pack import main

main()
