"""evo: evolutionary population search over train.py variants, with an LLM as mutation and crossover operator."""

__version__ = "0.1.0"
