"""The command line; the only place where the library's parts are assembled."""
