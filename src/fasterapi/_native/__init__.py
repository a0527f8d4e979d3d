"""The C extension modules of FasterAPI (see ``http2``)."""
