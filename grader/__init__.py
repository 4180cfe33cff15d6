"""Auto-grader for the optimisation module of a deep-learning course."""

__version__ = "0.1.0"
