"""Evaluation protocols (HPatches, AirSim, relative pose on pairs)."""
