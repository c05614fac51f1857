import sys

from catseg3d.cli.main import main

sys.exit(main())
