"""`python -m authorizer doctor [--subject USER] [--path P] [--method M] < token`"""

import os
import sys

from .doctor import main

if len(sys.argv) < 2 or sys.argv[1] != "doctor":
    print(__doc__, file=sys.stderr)
    sys.exit(2)
sys.exit(main(sys.argv[2:], os.environ, sys.stdin, sys.stdout))
