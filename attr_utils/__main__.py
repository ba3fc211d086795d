"""``python -m attr_utils`` runs the CLI."""

import sys

from attr_utils.cli import main

sys.exit(main())
