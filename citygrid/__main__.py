"""``python -m citygrid``: the same as the ``citygrid`` command."""

import sys

from citygrid.cli import main

sys.exit(main())
