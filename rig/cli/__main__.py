"""`python -m rig.cli ...` = `facerig ...`."""
import sys

from . import main

sys.exit(main())
