"""The ``mutualcredit`` command: a thin Typer skin over the library."""
