"""Running experiments: the simulate API, sweeps, executors (serial, processes, Dask), the
resumable store and file I/O."""
