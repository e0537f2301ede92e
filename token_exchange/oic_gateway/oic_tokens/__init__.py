"""OIC tokens: obtaining, caching and sharing the token OIC accepts.

The identity domain's token endpoint (``client``), its settings
(``settings``), the in-process cache (``cache``), the fleet cache on OCI
Cache (``fleet_cache``, pure; ``fleet_store``, its Redis edge) and the
``exchanger`` that puts them together for one subject.
"""
