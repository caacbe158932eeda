"""roughtrace: track what happens to the rough a producer sells, and value rough by
price reverse engineering from polished transaction prices."""

__version__ = "0.1.0"
