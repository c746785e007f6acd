"""``python -m eval report ...``: the report CLI without the ``unihub`` entry point."""

import sys

from eval.cli import main

sys.exit(main())
