"""``python -m codecsep_mm`` runs the CLI."""

import sys

from codecsep_mm.cli import main

sys.exit(main())
