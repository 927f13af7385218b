"""Hand-written rules around the learned models: timing, the beat grid, the star-rating fit, columns, playability,
spacing and sliders. Each is plain numpy with its own tests; none loads a model."""
