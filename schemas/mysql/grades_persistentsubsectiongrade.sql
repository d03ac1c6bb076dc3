-- grades_persistentsubsectiongrade: final state after edX grades migrations 0001..0022
-- (lms/djangoapps/grades/migrations in openedx/edx-platform). See README.md
-- in this folder for where each line comes from.
--
-- Requires grades_visibleblocks (grades_visibleblocks.sql) to exist first: the
-- foreign key below references grades_visibleblocks.hashed.

CREATE TABLE IF NOT EXISTS `grades_persistentsubsectiongrade` (
  -- 0001 CreateModel PersistentSubsectionGrade, in its field order
  -- (TimeStampedModel's created/modified come before id there)
  `created` datetime(6) NOT NULL,                 -- model_utils AutoCreatedField (default now() is Python-side only)
  `modified` datetime(6) NOT NULL,                -- model_utils AutoLastModifiedField (Python-side default)
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,   -- UnsignedBigIntAutoField(primary_key=True)
  `user_id` int NOT NULL,                         -- IntegerField()
  `course_id` varchar(255) NOT NULL,              -- CourseKeyField(max_length=255)
  `usage_key` varchar(255) NOT NULL,              -- UsageKeyField(max_length=255)
  -- 0001 subtree_edited_date, renamed by 0002, made NULL-able by 0011
  `subtree_edited_timestamp` datetime(6) DEFAULT NULL,
  -- 0001; 0011 changed only its verbose_name (no SQL)
  `course_version` varchar(255) NOT NULL,         -- CharField(max_length=255, blank=True)
  `earned_all` double NOT NULL,                   -- FloatField()
  `possible_all` double NOT NULL,                 -- FloatField()
  `earned_graded` double NOT NULL,                -- FloatField()
  `possible_graded` double NOT NULL,              -- FloatField()
  -- 0001 AddField visible_blocks (after the CreateModel, so appended here):
  -- ForeignKey(VisibleBlocks, to_field='hashed', db_column='visible_blocks_hash')
  -- takes the type of the target column, varchar(100)
  `visible_blocks_hash` varchar(100) NOT NULL,
  -- 0008 AddField first_attempted (appended)
  `first_attempted` datetime(6) DEFAULT NULL,     -- DateTimeField(null=True, blank=True)
  PRIMARY KEY (`id`),
  -- unique_together (0001, in edX's column order); Django's name is hashed, this one is descriptive
  UNIQUE KEY `grades_psg_course_id_user_id_usage_key_uniq` (`course_id`, `user_id`, `usage_key`),
  -- index_together of 0009/0010, given these explicit names by RenameIndex in 0022
  KEY `course_id_usage_key_idx` (`modified`, `course_id`, `usage_key`),
  KEY `first_course_id_user_id_idx` (`first_attempted`, `course_id`, `user_id`),
  -- index backing the foreign key (InnoDB needs one; named like the constraint, as InnoDB does)
  KEY `grades_psg_visible_blocks_hash_fk` (`visible_blocks_hash`),
  -- on_delete=CASCADE is emulated by Django in Python: the database constraint has no ON DELETE clause
  CONSTRAINT `grades_psg_visible_blocks_hash_fk` FOREIGN KEY (`visible_blocks_hash`)
    REFERENCES `grades_visibleblocks` (`hashed`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
