"""A run directory's life: where it is, the training session that fills it, its saver and
report, and resuming it."""
