import sys

from divergent.cli import main

sys.exit(main())
