"""vein2vein's operator side: settings, the embedded Temporal server and the command line."""
