"""``python -m regiongate.cli``: the same as the ``regiongate`` command."""

import sys

from regiongate.cli.main import main

sys.exit(main())
