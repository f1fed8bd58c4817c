"""The compiler's side of each core kind: the driver interface and the crossbar and TNN column drivers."""
