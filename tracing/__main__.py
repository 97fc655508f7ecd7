"""``python -m tracing``: see `tracing.cli`."""

import sys

from tracing.cli import main

sys.exit(main())
