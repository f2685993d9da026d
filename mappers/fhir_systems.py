"""System URIs only the mappers write.

The ones the server also binds, validates or searches (DCM, urn:dicom:uid, v2-0203, endpoint connection
types) come from ``terminology.systems``, the project's single place for them.
"""

URI = "urn:ietf:rfc:3986"
SNOMED_CT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
EN_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
