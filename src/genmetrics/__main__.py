import sys

from genmetrics.cli.app import main

sys.exit(main())
