"""Fault campaigns on the separate-process deployment (``campaign``)."""
