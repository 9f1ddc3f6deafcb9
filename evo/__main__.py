"""`python -m evo ...` is the `evo` command."""

import sys

from evo.cli.main import main

sys.exit(main())
