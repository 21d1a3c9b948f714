"""De-identification at the custodian's vault (issue 17), off chain.

A versioned configuration in the shape of Microsoft's FHIR anonymizer (:mod:`.config`),
keyed per-study pseudonyms and per-patient date offsets (:mod:`.pseudonyms`), the
transformation (:mod:`.transform`), the release gates (:mod:`.gates`) and the bulk
NDJSON export with a Provenance and a report (:mod:`.export`). The key never leaves the
vault and never reaches the chain; a manifest names the configuration's hash.
"""

from phrchain.deid.config import Config, default_config, load_config
from phrchain.deid.errors import DeidError
from phrchain.deid.export import Dataset, Group, deidentify, groups_from_bundles, write
from phrchain.deid.pseudonyms import date_offset_days, study_pseudonym

__all__ = ["Config", "Dataset", "DeidError", "Group", "date_offset_days", "default_config",
           "deidentify", "groups_from_bundles", "load_config", "study_pseudonym", "write"]
