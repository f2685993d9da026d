"""DICOM JSON model keys (PS3.18 F.2) of the attributes the mappers read.

Member names are the DICOM keywords, so a test can check every tag against pydicom's data dictionary.
"""

from enum import StrEnum


class Tag(StrEnum):
    # Study
    StudyInstanceUID = "0020000D"
    StudyDate = "00080020"
    StudyTime = "00080030"
    TimezoneOffsetFromUTC = "00080201"
    AccessionNumber = "00080050"
    IssuerOfAccessionNumberSequence = "00080051"
    ModalitiesInStudy = "00080061"
    ReferringPhysicianName = "00080090"
    StudyDescription = "00081030"
    ProcedureCodeSequence = "00081032"
    InstitutionalDepartmentName = "00081040"
    NumberOfStudyRelatedSeries = "00201206"
    NumberOfStudyRelatedInstances = "00201208"
    ReasonForTheRequestedProcedure = "00401002"
    RequestAttributesSequence = "00400275"
    # Series
    SeriesInstanceUID = "0020000E"
    SeriesNumber = "00200011"
    Modality = "00080060"
    SeriesDescription = "0008103E"
    SeriesDate = "00080021"
    SeriesTime = "00080031"
    NumberOfSeriesRelatedInstances = "00201209"
    BodyPartExamined = "00180015"
    Laterality = "00200060"
    # Instance
    SOPClassUID = "00080016"
    SOPInstanceUID = "00080018"
    InstanceNumber = "00200013"
    ContentLabel = "00700080"
    ConceptNameCodeSequence = "0040A043"
    DocumentTitle = "00420010"
    # Patient
    PatientName = "00100010"
    PatientID = "00100020"
    IssuerOfPatientID = "00100021"
    IssuerOfPatientIDQualifiersSequence = "00100024"
    PatientBirthDate = "00100030"
    PatientSex = "00100040"
    # Code sequence item (PS3.3 Table 8.8-1)
    CodeValue = "00080100"
    CodingSchemeDesignator = "00080102"
    CodingSchemeVersion = "00080103"
    CodeMeaning = "00080104"
    LongCodeValue = "00080119"
    URNCodeValue = "00080120"
    # HL7v2 Hierarchic Designator macro (issuer of an identifier)
    LocalNamespaceEntityID = "00400031"
    UniversalEntityID = "00400032"
    UniversalEntityIDType = "00400033"
