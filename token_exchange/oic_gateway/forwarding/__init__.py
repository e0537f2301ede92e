"""Forwarding to OIC: the function-backend topology's request to OIC and the
answer back (``forwarder``), with headers, methods and ``Location`` filtered
both ways."""
