-- db01.table1 for scripts/demo.sh and its test: ten rows, some of them with
-- what the INTO OUTFILE text format must escape (TAB, LF, backslash, NULL).
CREATE DATABASE db01;
CREATE TABLE db01.table1 (
  id INT PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  amount DECIMAL(10,2),
  created_at DATETIME NOT NULL,
  note TEXT
);
INSERT INTO db01.table1 VALUES
  (1, 'alice',  120.50, '2026-11-01 08:00:00', 'first order'),
  (2, 'bob',     75.00, '2026-11-02 09:30:00', NULL),
  (3, 'carol',  310.25, '2026-11-03 10:15:00', 'tab\there'),
  (4, 'dave',     0.99, '2026-11-04 11:45:00', 'line\nbreak'),
  (5, 'erin',   999.99, '2026-11-05 12:00:00', 'back\\slash'),
  (6, 'frank',   42.00, '2026-11-06 13:20:00', ''),
  (7, 'grace',   18.75, '2026-11-07 14:05:00', 'café'),
  (8, 'heidi',  500.00, '2026-11-08 15:50:00', 'NULL'),
  (9, 'ivan',    64.10, '2026-11-09 16:35:00', NULL),
  (10, 'judy',  250.00, '2026-11-10 17:10:00', 'last order');
