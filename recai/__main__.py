import sys

from recai.cli import main

sys.exit(main())
