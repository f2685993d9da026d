"""SMART Health Links (HL7 "SMART Health Cards and Links" IG STU1, links-specification.html).

A clinician or patient creates a link (`POST [base]/Patient/{id}/$shl`); the receiver decodes it, POSTs the
manifest (`/shl/m/{manifest id}`) and decrypts the files it gets with the key from the link.
"""
