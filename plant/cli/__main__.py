"""``python -m plant.cli``: the same as the ``plantwatch`` command."""

import sys

from plant.cli import main

sys.exit(main())
