"""Chairside's interfaces to other systems: HL7 v2 in (PCD-01), alarms out (PCD-04), FHIR R4 out."""
