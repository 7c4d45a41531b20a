"""`python -m video2mesh`: the same CLI as the `video2mesh` command."""

import sys

from video2mesh.cli import main

sys.exit(main())
