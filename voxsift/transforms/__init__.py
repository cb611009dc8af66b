"""Per-record steps of the curate stage."""
