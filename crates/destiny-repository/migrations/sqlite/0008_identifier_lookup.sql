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
SELECT refs.id,
       json_extract(item.value, '$.identifier_type'),
       json_extract(item.value, '$.other_identifier_name'),
       CAST(json_extract(item.value, '$.identifier') AS TEXT)
FROM refs, json_each(refs.identifiers) AS item
WHERE refs.identifiers IS NOT NULL
  AND json_extract(item.value, '$.identifier_type') IS NOT NULL
  AND json_extract(item.value, '$.identifier') IS NOT NULL;
