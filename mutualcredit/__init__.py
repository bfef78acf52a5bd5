"""mutualcredit: a mutual-credit ledger for networks of cultural collectives.

The package is layered: ``domain`` holds pure values and rules, ``persistence``
the tables and migrations, ``services`` the verbs (post, hold, reverse, ...).
Scripts import the services; the ``cli`` package is a thin skin over them.
"""

__version__ = "0.1.0"
