"""Scoring models and baselines on the same test genes."""
