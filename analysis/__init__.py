"""Scaling-law fits, transition detectors and reports. Depends on numpy, scipy, pandas, pyarrow and
matplotlib only: never torch or ray, so it runs on anyone's tables."""
