"""The fuzz entry points by area, each module with its rows of the table in fuzz/entry_points.py."""
