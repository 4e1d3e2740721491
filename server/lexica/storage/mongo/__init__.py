"""MongoDB adapters through PyMongo's async API (`AsyncMongoClient`), held to the SQL adapters' conformance suite.

Design: one document per entry, user, refresh token, API key, audit event and word list (its words embedded). Every
conditional write is one single-document operation with its precondition in the filter (`find_one_and_update`,
`update_one`, `delete_one`): no read-compare-save, and no multi-document transactions, which a standalone server
does not have. Where SQL relies on a transaction the adapters say what they do instead: the admin
guard (auth.py), embedded list words (lists.py), cascades after the deciding write (auth.py `delete_user`).

Datetimes: BSON dates hold milliseconds, so PyMongo truncates microseconds on write and every datetime comes back
aware, in UTC, at millisecond precision (SQL keeps microseconds). Strings sort by their UTF-8 bytes when no
collation is given, which is code-point order, as the SQL adapters' `COLLATE "C"`: no collation is ever set.

The suite runs against nx-27017 (a MongoDB wire-protocol server on SQLite) unless LEXICA_TEST_MONGO_URL names a
real server. The adapters are written for real MongoDB; where nx-27017 differs they use only what both do the same:

- `$push` (with or without `$each`) of embedded documents stores them, and the array's other elements, as JSON
  text, and `$push`'s `$sort` is ignored: adding list words `$set`s the whole array under the version precondition.
- `$set` of a top-level datetime stores its text ("2026-03-01 12:00:00.777000"; dates inside inserted documents and
  inside arrays stay dates): the two such fields that are read back (`word_lists.updated_at`,
  `api_keys.last_used_at`) go through `written_time`, a no-op on MongoDB; no query compares them.
- `{f: {$ne: null}}` also matches documents without `f`: every optional field is stored, null when unset.
- `$ne` / `$nin` on a field of embedded array elements (`words.key`) match even when the value is there: not used.
- `$setOnInsert` is ignored on upsert: the admin guard is inserted by `ensure_indexes`; counters upsert with `$inc`.
- Array-index paths (`"ids.1": {$exists: true}`) never match: the admin guard keeps an explicit `count`.
- A positional `$` update with an `$elemMatch` filter matches nothing: recovery codes are an array of the unused
  codes' hashes, spent with a conditional `$pull`.
- Exclusion projections on `find_one_and_update` return only `_id`, dotted inclusion projections return nothing:
  projections include top-level fields only.
- Booleans come back as 1 and 0: read through `bool()`.
- Once `_id` is part of a compound index, writes to the collection fail ("JSON path error near '_id'"): no index
  includes `_id` (ties of an index's sort are ordered in memory).
- `name=` of an index is ignored (`idx_<collection>_<fields>`, compound directions reported ascending); `$not` is not
  implemented and `$type` matches nothing (neither used); `server_info()` has no version.
- neosqlite's forced Python-fallback mode fixes `$push` and `$set` of dates but then `{f: null}` stops matching stored
  nulls, so the tests run nx-27017 in its default mode.

The same as MongoDB: duplicate keys on a unique index raise DuplicateKeyError (11000), also from `insert_many(...,
ordered=False)`, which inserts the rest; strings sort and compare in code-point order; commands on one database run
one at a time, so single-document writes are atomic; `$inc` upserts, `$pull` by condition, `$addToSet`, `$all`,
`$or` with null, anchored `$regex`, `bulk_write` and `drop_database` behave alike.
"""
