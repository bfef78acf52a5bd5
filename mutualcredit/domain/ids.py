"""The range of ids: 64-bit signed integers in every database we support.

A module of its own, with no imports, so the command line can bound its id arguments
without loading anything at start-up.
"""

ID_MAX = 2**63 - 1
