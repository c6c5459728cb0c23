"""The TF 2015-12-05 Inception v3 used by FID, KID, IS and precision/recall."""
