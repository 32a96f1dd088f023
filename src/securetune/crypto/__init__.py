"""Keys, envelope encryption, the streaming container format and encrypted datasets."""
