"""Data: manifests, on-the-fly training mixtures, and the open-audio corpus builder."""
