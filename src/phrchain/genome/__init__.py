"""Genomic objects (M12): crypt4gh sealing, refget digests, BGZF region indexes, proven
range reads and pseudonymised VCF export. ``docs/genomics.md`` is the design; the
package ``__init__`` imports nothing so each part can be used on its own."""
