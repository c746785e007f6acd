"""``python -m unihub.cli``: the same as the ``unihub`` command."""

import sys

from unihub.cli import main

sys.exit(main())
