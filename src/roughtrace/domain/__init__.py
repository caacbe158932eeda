"""The pure domain core: grades, sizes, rough assortments, certificates and money.

Nothing in this package does I/O or imports from storage, the CLI or the web layer.
"""
