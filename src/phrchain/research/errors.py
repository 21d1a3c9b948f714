"""Stable error codes of a vault's research release route (codespace ``research``,
codes 20-29; 27 is a finding of ``vault verify``; the chain's own research codes are
1-19 in ``modules/research/errors.py``). Never renumber. Off chain: these refuse an
HTTP request to the vault; nothing is sent."""

from phrchain.core.errors import register

NOT_RELEASE_OFFICER = register("research", 20, "not_release_officer",
                               "only the custodian institution's own active staff with a "
                               "release role (auditor or researcher) may release a dataset")
NOT_PREPARED = register("research", 21, "not_prepared",
                        "no release of this dataset was prepared by this caller here")
BAD_RELEASE_SIGNATURE = register("research", 22, "bad_release_signature",
                                 "the approval is not the caller's signature of the "
                                 "prepared manifest")
RELEASE_REFUSED = register("research", 23, "release_refused",
                           "the chain refused the dataset's manifest")
RELEASE_ORPHAN = register("research", 27, "release_orphan",
                          "a research release's key file or sealed package belongs to no "
                          "prepared or released dataset of this vault (vault verify)")
