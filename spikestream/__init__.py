"""spikestream: live sensor streams to control signals through online spiking neural networks."""

__version__ = "0.1.0"
