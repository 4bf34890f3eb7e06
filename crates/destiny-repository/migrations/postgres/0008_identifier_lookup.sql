-- Looking references up by identifier (`GET /v1/references/?identifier=`): one row per
-- identifier of a reference, its value as text (a PubMed id's digits), filled from the
-- references stored before this migration.
CREATE TABLE reference_identifiers (
    reference_id    TEXT NOT NULL REFERENCES refs (id),
    identifier_type TEXT NOT NULL,
    other_name      TEXT,
    identifier      TEXT NOT NULL
);
CREATE INDEX reference_identifiers_value ON reference_identifiers (identifier, identifier_type);

INSERT INTO reference_identifiers (reference_id, identifier_type, other_name, identifier)
SELECT refs.id, item ->> 'identifier_type', item ->> 'other_identifier_name', item ->> 'identifier'
FROM refs, jsonb_array_elements(refs.identifiers::jsonb) AS item
WHERE refs.identifiers IS NOT NULL
  AND item ->> 'identifier_type' IS NOT NULL
  AND item ->> 'identifier' IS NOT NULL;
