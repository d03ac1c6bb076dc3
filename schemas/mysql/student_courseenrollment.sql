-- student_courseenrollment: final state after edX student migrations
-- (common/djangoapps/student/migrations in openedx/edx-platform: 0001_initial, or
-- 0001_squashed_0031_auto_20200317_1122 which replaces 0001..0031, then
-- 0047_coursenrollment_rm_user_foreign_db_constraint in openedx/openedx-platform).
-- See README.md in this folder for where each line comes from.
--
-- No foreign keys: `course` has db_constraint=False since 0011 and `user` since 0047.
-- It can be created in any order.

CREATE TABLE IF NOT EXISTS `student_courseenrollment` (
  -- CreateModel CourseEnrollment, in its field order
  `id` int NOT NULL AUTO_INCREMENT,              -- AutoField
  -- CourseKeyField(max_length=255, db_index=True); 0011_course_key_field_to_foreign_key turned the
  -- field into ForeignKey(CourseOverview, db_constraint=False) with the same course_id column (no SQL)
  `course_id` varchar(255) NOT NULL,
  -- DateTimeField(auto_now_add=True, null=True, db_index=True): NULL-able
  `created` datetime(6) DEFAULT NULL,
  `is_active` tinyint(1) NOT NULL,               -- BooleanField(default=True)
  -- CharField(max_length=100); default 'honor', later 'audit', later a callable (Python-side only)
  `mode` varchar(100) NOT NULL,
  -- ForeignKey(User); 0047 db_constraint=False
  `user_id` int NOT NULL,
  PRIMARY KEY (`id`),
  -- unique_together (user, course) in edX's column order; Django's name is hashed, this one is descriptive.
  -- It also serves lookups by user_id (leftmost column).
  UNIQUE KEY `student_ce_user_id_course_id_uniq` (`user_id`, `course_id`),
  -- db_index=True on course_id and created; Django's names are hashed, these are descriptive
  KEY `student_ce_course_id_idx` (`course_id`),
  KEY `student_ce_created_idx` (`created`),
  -- 0022_indexing_in_courseenrollment AddIndex(fields=['user', '-created']), edX's explicit name
  KEY `student_cou_user_id_b19dcd_idx` (`user_id`, `created` DESC)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
