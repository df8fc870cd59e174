"""Maintenance scripts of the repository (not in the wheel): `python -m scripts.<name>`."""
