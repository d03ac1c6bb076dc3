-- course_groups_coursecohort: final state after edX course_groups migrations 0001..0003
-- (openedx/core/djangoapps/course_groups/migrations). See README.md in this folder.
--
-- Requires course_groups_courseusergroup (course_groups_courseusergroup.sql) first.

CREATE TABLE IF NOT EXISTS `course_groups_coursecohort` (
  -- 0001 CreateModel CourseCohort: id, assignment_type
  `id` int NOT NULL AUTO_INCREMENT,               -- models.AutoField (Django's implicit id)
  -- CharField(max_length=20, choices random/manual, default='manual'); the default is Python-side only
  `assignment_type` varchar(20) NOT NULL,
  -- 0001 AddField course_user_group (appended): OneToOneField(CourseUserGroup, related_name='cohort')
  `course_user_group_id` int NOT NULL,
  PRIMARY KEY (`id`),
  -- OneToOneField is unique=True: an inline UNIQUE, which MySQL/MariaDB name after the column;
  -- InnoDB also uses it for the foreign key
  UNIQUE KEY `course_user_group_id` (`course_user_group_id`),
  -- on_delete=CASCADE is emulated by Django in Python: no ON DELETE clause
  CONSTRAINT `course_groups_cc_course_user_group_id_fk` FOREIGN KEY (`course_user_group_id`)
    REFERENCES `course_groups_courseusergroup` (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
