import sys

from spaneval.cli import main

sys.exit(main())
