"""PyMC twins of the bayesrec models, the specifications the samplers are tested against."""
