"""Training: a run built from a config, the loop, optimizers, schedules, early stopping, resume."""
