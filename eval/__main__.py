"""``python -m unihub.eval report ...``: the report CLI without the ``unihub`` entry point."""

import sys

from unihub.eval.cli import main

sys.exit(main())
