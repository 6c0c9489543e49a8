"""``python -m gener``."""

import sys

from gener.cli import main

sys.exit(main())
