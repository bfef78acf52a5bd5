"""Pure values and rules: no database, files, environment, clock or randomness."""
