"""Neural networks as plain nn.Modules (no Lightning): chart VAE, audio encoder, denoiser, feature embedder."""
