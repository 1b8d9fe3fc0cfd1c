"""What every domain shares: the hardware catalog (with the GPUs' peak FLOP/s), the capacity
catalog (how GPUs are obtained), version pins, workload identities, image names, stack names and
the selection of several stacks in one command, the preview contract and its reader, the FLOP count
of a Keras model, and the command line's conventions.

The ground floor: it imports no other package of this repository, no Pulumi and no TensorFlow.
"""
