"""Learned models at inference: what a trained network decides (loading a model file and running it), no rules."""
