"""Imports each area's module that registers settings, so the registry is complete."""
