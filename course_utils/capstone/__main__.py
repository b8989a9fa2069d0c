"""``python -m course_utils.capstone record``: regenerate chapter 08's multi-seed record."""

import sys

from course_utils.capstone.record import main

sys.exit(main())
