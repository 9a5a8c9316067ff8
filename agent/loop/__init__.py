"""The closed loop: one run's session, the runner and the parts it delegates to."""
