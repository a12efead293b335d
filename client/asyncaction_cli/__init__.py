"""The ``asyncaction`` command line (also ``kubectl asyncaction`` as a plugin)."""
