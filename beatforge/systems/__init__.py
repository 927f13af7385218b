"""Thin LightningModule wrappers ("systems") around the networks in beatforge.models."""
