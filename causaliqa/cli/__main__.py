"""``python -m causaliqa.cli``."""

import sys

from causaliqa.cli import main

sys.exit(main())
