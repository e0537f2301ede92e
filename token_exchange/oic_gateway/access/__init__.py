"""Access decisions: what a verified caller may reach.

The one path rule (``paths``), access rules (``policy``) and which OIC user a
caller is (``subjects``). Pure: no network, no clock beyond what is passed in.
"""
