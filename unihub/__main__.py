"""``python -m unihub``: the same as the ``unihub`` command."""

import sys

from .cli import main

sys.exit(main())
