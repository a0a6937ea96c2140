"""codecsep-mm: prompt-driven sound separation in the latent space of a frozen neural audio codec."""

__version__ = "0.1.0"
