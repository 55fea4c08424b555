"""Readers of real datasets' formats (HPatches, AirSim recordings, pose pairs)."""
