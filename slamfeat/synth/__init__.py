"""Synthetic datasets in real datasets' formats (HPatches, AirSim)."""
