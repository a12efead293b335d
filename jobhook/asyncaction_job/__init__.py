"""Job-side client of the job hook. Standard library only, so any image can use it."""
