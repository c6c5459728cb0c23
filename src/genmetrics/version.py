"""The package version, in one place (imported by the package root and by manifests)."""

__version__ = "0.1.0"
