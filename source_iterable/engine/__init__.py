"""The read engine: units of work, lanes of workers, the main loop that prints, progress."""
