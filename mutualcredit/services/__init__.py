"""The verbs of the ledger: everything the CLI does, a script can do by importing these."""
