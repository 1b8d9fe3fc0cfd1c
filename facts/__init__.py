"""What every domain shares: the hardware catalog, the capacity catalog (how GPUs are obtained),
version pins, workload identities, image names, stack names, the preview contract and its reader,
and the command line's conventions.

The ground floor: it imports no other package of this repository, no Pulumi and no TensorFlow.
"""
