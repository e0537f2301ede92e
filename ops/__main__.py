"""usage: python -m ops doctor [--path P] [--method M] [--subject USER] [< token]
       python -m ops check_deployment URL [--method M] [--token-stdin] [--client-id ID --token-url U --scope S]

(python -m ops doctor --help and python -m ops check_deployment --help explain each option.)"""

import os
import sys

if len(sys.argv) >= 2 and sys.argv[1] in ("-h", "--help"):
    print(__doc__)
    sys.exit(0)
if len(sys.argv) >= 2 and sys.argv[1] in ("check_deployment", "check-deployment"):
    from ops.check_deployment import main as check

    sys.exit(check(sys.argv[2:], os.environ, sys.stdin, sys.stdout))
if len(sys.argv) < 2 or sys.argv[1] != "doctor":
    print(__doc__, file=sys.stderr)
    sys.exit(2)
from ops.doctor import main

sys.exit(main(sys.argv[2:], os.environ, sys.stdin, sys.stdout))
