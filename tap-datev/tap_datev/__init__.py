"""tap-datev: a Singer tap for DATEV."""
