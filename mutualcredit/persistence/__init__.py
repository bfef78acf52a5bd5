"""Tables, engines and migrations.  Domain values are mapped here, at the boundary."""
