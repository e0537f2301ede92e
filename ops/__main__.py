"""usage: python -m ops doctor [--path P] [--method M] [--subject USER] [< token]

(python -m ops doctor --help explains each option.)"""

import os
import sys

from ops.doctor import main

if len(sys.argv) >= 2 and sys.argv[1] in ("-h", "--help"):
    print(__doc__)
    sys.exit(0)
if len(sys.argv) < 2 or sys.argv[1] != "doctor":
    print(__doc__, file=sys.stderr)
    sys.exit(2)
sys.exit(main(sys.argv[2:], os.environ, sys.stdin, sys.stdout))
