"""Runs first in the token-exchange image: Python imports ``sitecustomize``
from its path at start-up, and the image puts ``/function`` first on
``PYTHONPATH``. So this runs before fdk configures its logger.

Why: with ``FDK_DEBUG`` set, fdk logs every request's headers at DEBUG, the
caller's ``Authorization`` among them (fdk ``context.py``). On a container's
first call it does so before it imports ``func.py`` (fdk imports the handler
lazily, on the first call), so nothing in ``func.py`` can quiet it in time.
Dropping ``FDK_DEBUG`` here keeps fdk's logger at WARNING from the start.
Nothing else belongs here: it runs in every Python process of the image.
"""

import os
import sys

if os.environ.pop("FDK_DEBUG", None) is not None:
    sys.stderr.write('{"level":"WARNING","logger":"token_exchange","msg":"FDK_DEBUG ignored: '
                     'fdk debug lines carry the callers\' tokens"}\n')
