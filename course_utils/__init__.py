"""Helpers for the course "Why recurrence? From TF-IDF to LSTM and GRU"."""

__version__ = "0.1.0"
