"""``python -m ovo_nb``: the ``ovo-nb`` command, for when the script is not on ``PATH``."""

import sys

from .cli import main

sys.exit(main())
