"""``phrchain demo``: a consortium on one machine and a story that uses every capability
(:mod:`phrchain.demo.consortium`, :mod:`phrchain.demo.scenario`)."""
