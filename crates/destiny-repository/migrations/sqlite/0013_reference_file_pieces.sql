-- Reference files are joined from JSON pieces stored with each row, not rebuilt from the
-- models on every poll: a reference's line without its enhancements (`refs.wire`), and
-- each enhancement's line around its content (`wire_head`, the content, `wire_tail`).
-- `enhancement_type` lets a file leave out full texts without reading the content. Rows
-- stored before this migration have none of them and are written from the models.
ALTER TABLE refs ADD COLUMN wire TEXT;
ALTER TABLE enhancements ADD COLUMN enhancement_type TEXT;
ALTER TABLE enhancements ADD COLUMN wire_head TEXT;
ALTER TABLE enhancements ADD COLUMN wire_tail TEXT;
