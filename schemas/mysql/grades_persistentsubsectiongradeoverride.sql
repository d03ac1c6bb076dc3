-- grades_persistentsubsectiongradeoverride: final state after edX grades migrations 0001..0022
-- (lms/djangoapps/grades/migrations in openedx/edx-platform). See README.md in this folder.
--
-- Requires grades_persistentsubsectiongrade (grades_persistentsubsectiongrade.sql, which in turn
-- needs grades_visibleblocks.sql) to exist first: grade_id has a foreign key to its id.

CREATE TABLE IF NOT EXISTS `grades_persistentsubsectiongradeoverride` (
  -- 0013_persistentsubsectiongradeoverride CreateModel, in its field order
  `id` int NOT NULL AUTO_INCREMENT,              -- AutoField (plain int, unlike the grade tables)
  `created` datetime(6) NOT NULL,                -- DateTimeField(auto_now_add=True, db_index=True)
  `modified` datetime(6) NOT NULL,               -- DateTimeField(auto_now=True, db_index=True)
  `earned_all_override` double DEFAULT NULL,     -- FloatField(null=True, blank=True)
  `possible_all_override` double DEFAULT NULL,   -- FloatField(null=True, blank=True)
  `earned_graded_override` double DEFAULT NULL,  -- FloatField(null=True, blank=True)
  `possible_graded_override` double DEFAULT NULL, -- FloatField(null=True, blank=True)
  -- OneToOneField(PersistentSubsectionGrade, related_name='override'): takes the target's type,
  -- bigint unsigned (UnsignedBigIntAutoField's rel_db_type), and is unique
  `grade_id` bigint unsigned NOT NULL,
  -- 0016_auto_20190703_1446 AddField override_reason, then system (appended)
  `override_reason` varchar(300) DEFAULT NULL,   -- CharField(max_length=300, null=True, blank=True)
  `system` varchar(100) DEFAULT NULL,            -- CharField(max_length=100, null=True, blank=True)
  PRIMARY KEY (`id`),
  -- unique=True of the OneToOneField, emitted inline, so MySQL/MariaDB name it after the column;
  -- it also backs the foreign key
  UNIQUE KEY `grade_id` (`grade_id`),
  -- db_index=True; Django's names are hashed, these are descriptive
  KEY `grades_psgo_created_idx` (`created`),
  KEY `grades_psgo_modified_idx` (`modified`),
  -- on_delete=CASCADE is emulated by Django in Python: no ON DELETE clause
  CONSTRAINT `grades_psgo_grade_id_fk` FOREIGN KEY (`grade_id`) REFERENCES `grades_persistentsubsectiongrade` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
