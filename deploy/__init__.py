"""The pipeline files and service units that ship with spikestream (deploy/ in the source tree, installed as
the package ``spikestream.pipelines`` so that `spikestream demo` works after a plain ``pip install``)."""
