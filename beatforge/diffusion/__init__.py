"""Diffusion math apart from the networks: noise schedule, training loss, samplers."""
