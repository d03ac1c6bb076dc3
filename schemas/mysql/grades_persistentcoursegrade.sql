-- grades_persistentcoursegrade: final state after edX grades migrations 0001..0022
-- (lms/djangoapps/grades/migrations in openedx/edx-platform). See README.md
-- in this folder for where each line comes from.
--
-- No foreign keys; it can be created in any order.

CREATE TABLE IF NOT EXISTS `grades_persistentcoursegrade` (
  -- 0006 CreateModel PersistentCourseGrade, in its field order
  `created` datetime(6) NOT NULL,                 -- model_utils AutoCreatedField (Python-side default)
  `modified` datetime(6) NOT NULL,                -- model_utils AutoLastModifiedField (Python-side default)
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,   -- UnsignedBigIntAutoField(primary_key=True)
  `user_id` int NOT NULL,                         -- IntegerField(db_index=True)
  `course_id` varchar(255) NOT NULL,              -- CourseKeyField(max_length=255)
  -- 0006 NOT NULL, made NULL-able by 0011
  `course_edited_timestamp` datetime(6) DEFAULT NULL,
  `course_version` varchar(255) NOT NULL,         -- CharField(max_length=255, blank=True)
  `grading_policy_hash` varchar(255) NOT NULL,    -- CharField(max_length=255)
  `percent_grade` double NOT NULL,                -- FloatField()
  `letter_grade` varchar(255) NOT NULL,           -- CharField(max_length=255)
  -- 0007 AddField passed_timestamp (appended)
  `passed_timestamp` datetime(6) DEFAULT NULL,    -- DateTimeField(null=True, blank=True)
  PRIMARY KEY (`id`),
  -- unique_together (0006, in edX's column order); Django's name is hashed, this one is descriptive
  UNIQUE KEY `grades_pcg_course_id_user_id_uniq` (`course_id`, `user_id`),
  -- db_index=True on user_id (0006); Django's name is hashed, this one is descriptive
  KEY `grades_pcg_user_id_idx` (`user_id`),
  -- index_together of 0007/0009, given these explicit names by RenameIndex in 0021
  KEY `passed_timestamp_course_id_idx` (`passed_timestamp`, `course_id`),
  KEY `modified_course_id_idx` (`modified`, `course_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
