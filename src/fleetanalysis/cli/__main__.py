"""``python -m fleetanalysis.cli``: the same as the ``fleetanalysis`` command."""

import sys

from fleetanalysis.cli import main

sys.exit(main())
