-- spanlab application workload "sqlite": bulk inserts, indexes, joins and group-by
-- in an in-memory database. @ROWS@ is replaced by the row count (the "rows"
-- parameter); scripts/spanlab_exp/apps.py computes the expected output and compares.
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE a(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val INTEGER);
CREATE TABLE b(id INTEGER PRIMARY KEY, a_id INTEGER, w INTEGER);
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < @ROWS@)
INSERT INTO a SELECT i, i % 100, printf('name-%08d', i), (i * 37) % 1000 FROM c;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2 * @ROWS@)
INSERT INTO b SELECT i, (i % @ROWS@) + 1, i % 13 FROM c;
COMMIT;
CREATE INDEX a_grp ON a(grp);
CREATE INDEX a_name ON a(name);
CREATE INDEX b_a ON b(a_id);
SELECT count(*), sum(a.val * b.w) FROM a JOIN b ON b.a_id = a.id;
SELECT grp, count(*), sum(val) FROM a GROUP BY grp ORDER BY grp LIMIT 3;
SELECT count(DISTINCT substr(name, 1, 9)) FROM a;
SELECT count(*) FROM a WHERE name LIKE 'name-0000%';
