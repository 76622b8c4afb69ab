"""``mlptrain serve``: a run's predictions over HTTP with MLflow's scoring protocol (docs/serving.md)."""
