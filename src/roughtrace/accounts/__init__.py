"""Accounts of the HTTP service: who may call it, in which role, for which party.

A token is shown once when its account is made and kept only as its SHA-256 hash; `tokens` makes
and recognises them, `schema` holds the service's tables (accounts, import jobs, answers to findings).
"""
