"""ANN->SNN conversion: the layer graph, its rewrites, the snn IR builder, statistics, rate profiling."""
