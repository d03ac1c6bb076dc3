-- courseware_studentmodule: final state after edX courseware migrations 0001..0017
-- (lms/djangoapps/courseware/migrations in openedx/edx-platform, now openedx/openedx-platform).
-- See README.md in this folder for where each line comes from.
--
-- No foreign keys: 0010_auto_20190709_1559 set db_constraint=False on `student`,
-- so student_id is not checked against auth_user. It can be created in any order.

CREATE TABLE IF NOT EXISTS `courseware_studentmodule` (
  -- 0001_initial CreateModel StudentModule, in its field order (the `student` FK is last there)
  -- 0001 AutoField (int); 0011_csm_id_bigint runs
  -- "MODIFY `id` bigint UNSIGNED AUTO_INCREMENT NOT NULL" (UnsignedBigIntAutoField)
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  -- CharField(max_length=32, db_index=True); 0012_adjust_fields dropped choices/default (no SQL)
  `module_type` varchar(32) NOT NULL,
  -- field `module_state_key` = UsageKeyField(max_length=255, db_column='module_id');
  -- the column is called module_id. 0006_remove_module_id_index dropped its db_index.
  `module_id` varchar(255) NOT NULL,
  -- CourseKeyField(max_length=255, db_index=True); 0012 -> LearningContextKeyField (no SQL)
  `course_id` varchar(255) NOT NULL,
  `state` longtext DEFAULT NULL,                 -- TextField(null=True, blank=True), JSON text
  `grade` double DEFAULT NULL,                   -- FloatField(null=True, blank=True, db_index=True)
  `max_grade` double DEFAULT NULL,               -- FloatField(null=True, blank=True)
  -- CharField(max_length=8, default='na'); 0007_remove_done_index dropped its db_index
  `done` varchar(8) NOT NULL,
  `created` datetime(6) NOT NULL,                -- DateTimeField(auto_now_add=True, db_index=True)
  `modified` datetime(6) NOT NULL,               -- DateTimeField(auto_now=True, db_index=True)
  -- ForeignKey(User); 0010 db_constraint=False (constraint dropped, column kept)
  `student_id` int NOT NULL,
  PRIMARY KEY (`id`),
  -- unique_together (student, module_state_key, course_id) from 0001; Django's name is hashed, this one is descriptive.
  -- It also serves lookups by student_id (leftmost column), so there is no separate student_id index.
  UNIQUE KEY `courseware_sm_student_id_module_id_course_id_uniq` (`student_id`, `module_id`, `course_id`),
  -- db_index=True (0001); Django's names are hashed, these are descriptive
  KEY `courseware_sm_module_type_idx` (`module_type`),
  KEY `courseware_sm_course_id_idx` (`course_id`),
  KEY `courseware_sm_grade_idx` (`grade`),
  KEY `courseware_sm_created_idx` (`created`),
  KEY `courseware_sm_modified_idx` (`modified`),
  -- 0015_add_courseware_stats_index AddIndex, edX's explicit name
  KEY `courseware_stats` (`module_id`, `grade`, `student_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
