"""``python -m galcube_lib.report``: run the notebooks end to end and write the reports."""
import sys

from galcube_lib.report.notebooks import main

sys.exit(main())
