"""The click command-line interface: thin wrappers that parse, call the library, print."""
