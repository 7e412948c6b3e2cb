"""The seed documents of fuzz/seeds.py, built by area from one committed model."""
