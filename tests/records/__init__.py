"""Tests of the record store (`records`): ledger, batch record exports, FHIR views."""
