"""Erased people as every process sees them: the suppression list on ``shop.privacy.erased``."""
