"""Geometry: homographies, cameras, poses. Pure functions."""
