"""Small fake copies of the public releases, laid out exactly as the real ones (TorchGeo's way:
generators beside the tests, never shipped in the package)."""
