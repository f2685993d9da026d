"""Patient identity across hospitals: possible duplicates the sync found (`candidates`), how two Patients are
compared (`demographics`), and `Patient/$merge` (`merge`), with their routes."""
