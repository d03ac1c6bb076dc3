-- grades_visibleblocks: final state after edX grades migrations 0001..0022
-- (lms/djangoapps/grades/migrations in openedx/edx-platform). See README.md
-- in this folder for where each line comes from.
--
-- Create this table first: grades_persistentsubsectiongrade.visible_blocks_hash
-- references grades_visibleblocks.hashed.

CREATE TABLE IF NOT EXISTS `grades_visibleblocks` (
  -- 0001 CreateModel VisibleBlocks, field order: id, blocks_json, hashed
  `id` int NOT NULL AUTO_INCREMENT,          -- models.AutoField (Django's implicit id)
  `blocks_json` longtext NOT NULL,           -- models.TextField()
  `hashed` varchar(100) NOT NULL,            -- models.CharField(max_length=100, unique=True)
  -- 0004 AddField course_id (appended); its one-off default is not kept (preserve_default=False)
  `course_id` varchar(255) NOT NULL,         -- CourseKeyField(max_length=255, db_index=True)
  PRIMARY KEY (`id`),
  -- unique=True on `hashed` (0001); Django emits an inline UNIQUE, which MySQL/MariaDB name after the column
  UNIQUE KEY `hashed` (`hashed`),
  -- db_index=True on course_id (0004); Django's name is hashed, this one is descriptive
  KEY `grades_visibleblocks_course_id_idx` (`course_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
