-- course_groups_coursecohortssettings: final state after edX course_groups migrations
-- 0001..0003 (openedx/core/djangoapps/course_groups/migrations). See README.md in this folder.
--
-- No foreign keys; it can be created in any order.

CREATE TABLE IF NOT EXISTS `course_groups_coursecohortssettings` (
  -- 0001 CreateModel CourseCohortsSettings, in its field order
  `id` int NOT NULL AUTO_INCREMENT,               -- models.AutoField (Django's implicit id)
  `is_cohorted` tinyint(1) NOT NULL,              -- BooleanField(default=False); default Python-side only
  `course_id` varchar(255) NOT NULL,              -- CourseKeyField(max_length=255, unique=True, db_index=True)
  -- TextField(null=True, db_column='cohorted_discussions'): the model field is _cohorted_discussions
  -- (a JSON list; deprecated)
  `cohorted_discussions` longtext DEFAULT NULL,
  -- BooleanField, default True in 0001, False since 0002 (default only: no SQL); deprecated
  `always_cohort_inline_discussions` tinyint(1) NOT NULL,
  PRIMARY KEY (`id`),
  -- unique=True on course_id: an inline UNIQUE, named after the column by MySQL/MariaDB.
  -- db_index=True adds nothing, since Django does not index a unique field twice.
  UNIQUE KEY `course_id` (`course_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
