-- course_groups_courseusergroup: final state after edX course_groups migrations 0001..0003
-- (openedx/core/djangoapps/course_groups/migrations in openedx/edx-platform, now
-- openedx/openedx-platform). See README.md in this folder for where each line comes from.
--
-- No foreign keys of its own. Create it first: course_groups_cohortmembership,
-- course_groups_coursecohort, course_groups_courseusergrouppartitiongroup and
-- course_groups_courseusergroup_users reference course_groups_courseusergroup.id.

CREATE TABLE IF NOT EXISTS `course_groups_courseusergroup` (
  -- 0001 CreateModel CourseUserGroup, field order: id, name, course_id, group_type
  -- (its `users` ManyToManyField is the separate table course_groups_courseusergroup_users)
  `id` int NOT NULL AUTO_INCREMENT,               -- models.AutoField (Django's implicit id)
  `name` varchar(255) NOT NULL,                   -- CharField(max_length=255)
  `course_id` varchar(255) NOT NULL,              -- CourseKeyField(max_length=255, db_index=True)
  -- CharField(max_length=20, choices=[('cohort', 'Cohort')]); the only value edX writes is 'cohort'
  `group_type` varchar(20) NOT NULL,
  PRIMARY KEY (`id`),
  -- unique_together (name, course_id) (0001); Django's name is hashed, this one is descriptive
  UNIQUE KEY `course_groups_cug_name_course_id_uniq` (`name`, `course_id`),
  -- db_index=True on course_id (0001); Django's name is hashed, this one is descriptive
  KEY `course_groups_cug_course_id_idx` (`course_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
