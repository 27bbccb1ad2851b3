"""Date formats of the rendered pages (FORMAT_MODULE_PATH): times always name their zone."""
