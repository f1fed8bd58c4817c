"""Hardware-aware architecture search (NeuroNAS): the search, its space, trials, runner and outputs."""
